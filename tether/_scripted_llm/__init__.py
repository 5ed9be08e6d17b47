"""A scripted OpenAI-compatible model server on loopback: chat completions and the
Responses API.

It is the offline model of `tether worker` and the LLM of tests: real HTTP, spoken to by
the real `openai` client. Replies come from a queue of scripted steps (consumed in
order) and, when the queue is empty, from a responder function that looks at the
conversation: the script of the agent that sent the request (Tether's LLM activity
names it in the X-Tether-Agent header), else the catch-all `responder`. Every request
is recorded, so tests can count calls.

    with ScriptedLLM(scripts={"issue-triage": triage_script}) as llm:
        llm.enqueue(call_tools(("lookup_order", {"order_id": "A-1001"})), say("Done."))
        ...  # point OPENAI_BASE_URL at llm.base_url

steps.py holds what can be scripted, server.py the HTTP server, chat.py and
responses.py the two wire formats.
"""
