"""Workflows: the durable decisions of an agent run. No I/O, clocks or randomness here.

agent.py is the agent loop (AgentWorkflow); each other concern of a run has its own module:
- run_state.py: the conversation, the spend, the limits (budgets), a chat's inbox;
- llm_calls.py: model calls with fallback and conversation resend (ModelCalls);
- spec_calls.py: the agent's spec recorded with the first model call, or alone;
- outcomes.py: replies cut at their length limit and servers that drop tools;
- context.py: fitting what the model is sent to the agent's context policy;
- tool_calls.py: tool calls, the approvals they wait for, sub-agents (ToolCalls);
- approvals.py, questions.py: calls that wait for a person's decision, questions that
  wait for an answer; person_waits.py: what the two share;
- tool_activities.py: one tool call as an activity, local or regular;
- chat.py: a chat's messages, the wait for the next ones, continue-as-new (Chat);
- interrupts.py: stopping a turn at its next safe point, and steering it (Interrupts);
- steering.py: the handlers that steer a run: send, interrupt, end (TakesMessages);
- deadline.py: waits that end at the run's deadline;
- publishing.py: status, current details, search attributes, memo (Publisher).
pipeline.py is the base of deterministic workflows with LLM steps (Pipeline).
"""
