// The run and chat pages: the run's events, streamed (server-sent events) and shown as
// text only (textContent, never HTML: model text cannot become markup here), and the
// calls and questions that wait for a person with their decision and answer forms.
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live) return;
  const base = document.body.dataset.base || "";
  const run = live.dataset.run;
  const runPath = base + "/runs/" + encodeURIComponent(run);
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const list = document.getElementById("events");
  const status = document.getElementById("status");
  const key = "tether-run:" + run;
  // What tests and people can check: each event's seq as shown, and any sent twice.
  const seen = { seqs: [], duplicates: 0, ended: false };
  window.tether = seen;
  const turns = {};
  const TYPES = ["turn_started", "text_delta", "reply", "tool_call_started",
    "tool_call_finished", "approval_waiting", "approval_decided", "question_asked",
    "question_answered", "user_message",
    "model_switched", "budget_reached", "continued_as_new", "step", "run_ended"];

  function item(cls, text, event) {
    const li = document.createElement("li");
    li.className = cls;
    li.dataset.seq = String(event.seq);
    li.textContent = text;
    list.appendChild(li);
    return li;
  }

  function answer(turn) {
    if (!turns[turn]) {
      turns[turn] = document.createElement("li");
      turns[turn].className = "answer";
      turns[turn].dataset.turn = String(turn);
      list.appendChild(turns[turn]);
    }
    return turns[turn];
  }

  // What an approval policy said of a call: its rule, and a judge's verdict and reasoning.
  function policyText(p) {
    let text = "rule " + p.rule + " (" + p.action.replace("_", " ") + ")";
    if (p.judge) text += " · judge " + p.judge.model + " said " + p.judge.verdict + ": " + p.judge.reasoning;
    return text;
  }

  function show(e) {
    switch (e.type) {
      case "turn_started": item("turn", "turn " + e.turn + " · " + e.model, e); break;
      case "text_delta": {
        const a = answer(e.turn);
        a.textContent = (e.restart ? "" : a.textContent) + e.text;
        break;
      }
      case "reply": if (e.text !== null && e.text !== undefined) answer(e.turn).textContent = e.text; break;
      case "tool_call_started": item("tool", "→ " + e.tool + " " + e.arguments, e); break;
      case "tool_call_finished":
        item("result" + (e.error ? " failed" : ""), "← " + e.tool + ": " + e.result, e); break;
      case "approval_waiting":
        item("approval", "waiting for a person: " + e.tool + " " + (e.arguments || "(see below)") +
          (e.policy ? " · " + policyText(e.policy) : ""), e);
        loadPending(); break;
      case "approval_decided":
        item("decided", (e.approved ? "approved " : "rejected ") + e.tool +
          (e.decided_by ? " by " + e.decided_by : "") +
          (e.edited ? " (edited)" : "") + (e.timed_out ? " (timed out)" : "") +
          (e.policy && e.policy.judge ? " · " + policyText(e.policy) : (e.reason ? ": " + e.reason : "")), e);
        loadPending(); break;
      case "question_asked":
        item("question", "asked a person: " + e.question +
          (e.choices ? " [" + e.choices.join(" | ") + "]" : ""), e);
        loadPending(); break;
      case "question_answered":
        item("answered", e.timed_out ? "nobody answered in time" :
          "answered " + e.answer + " by " + e.answered_by, e);
        loadPending(); break;
      case "user_message": item("user", e.text, e); break;
      case "model_switched": item("note", "model " + e.from_model + " → " + e.to_model, e); break;
      case "budget_reached": item("budget", "budget reached: " + e.status + " (" + e.detail + ")", e); break;
      case "continued_as_new": item("note", "continued (run " + e.runs + ")", e); break;
      case "step": item("step", e.text, e); break;
      case "run_ended":
        item("ended", "run ended: " + e.status + (e.error ? " · " + e.error : ""), e);
        status.textContent = e.status; seen.ended = true; break;
    }
  }

  function take(e, store) {
    const last = seen.seqs.length ? seen.seqs[seen.seqs.length - 1] : -1;
    if (e.seq <= last) { seen.duplicates += 1; return; }
    seen.seqs.push(e.seq);
    show(e);
    if (store) {
      saved.push(e);
      try { sessionStorage.setItem(key, JSON.stringify(saved)); } catch (_) { /* full */ }
    }
  }

  let saved = [];
  try { saved = JSON.parse(sessionStorage.getItem(key) || "[]"); } catch (_) { saved = []; }
  for (const e of saved) take(e, false);
  const from = seen.seqs.length ? seen.seqs[seen.seqs.length - 1] + 1 : 0;

  if (!seen.ended) {
    const source = new EventSource(runPath + "/events?from=" + from);
    status.textContent = "live";
    for (const t of TYPES) {
      source.addEventListener(t, function (m) { take(JSON.parse(m.data), true); });
    }
    source.addEventListener("end", function () { source.close(); if (!seen.ended) status.textContent = "ended"; });
    source.onerror = function () { if (!seen.ended) status.textContent = "reconnecting…"; };
    source.onopen = function () { if (!seen.ended) status.textContent = "live"; };
  } else {
    status.textContent = "ended";
  }

  const approvals = document.getElementById("approvals");
  function field(form, name, value) {
    const input = document.createElement("input");
    input.type = "hidden"; input.name = name; input.value = value;
    form.appendChild(input);
  }
  function labelled(text, control) {
    const label = document.createElement("label");
    label.textContent = text + " ";
    label.appendChild(control);
    return label;
  }
  // A question the agent asked a person: its choices as buttons, else a box for the answer.
  function asked(question, mayAnswer) {
    const box = document.createElement("article");
    box.className = "question";
    box.dataset.call = question.call_id;
    const title = document.createElement("h2");
    title.textContent = "A question for a person (call " + question.call_id + ")";
    const text = document.createElement("pre");
    text.className = "text asked";
    text.textContent = question.question;
    box.append(title, text);
    if (!mayAnswer) return box;
    const form = document.createElement("form");
    form.method = "post"; form.action = runPath + "/answer"; form.className = "answer";
    field(form, "csrf", csrf); field(form, "call_id", question.call_id);
    field(form, "back", location.pathname);
    for (const choice of question.choices || []) {
      const b = document.createElement("button");
      b.type = "submit"; b.name = "value"; b.value = JSON.stringify(choice); b.className = "choice";
      b.textContent = choice;
      form.appendChild(b);
    }
    if (!question.choices) {
      const value = document.createElement("textarea"); value.name = "value"; value.rows = 3;
      const b = document.createElement("button");
      b.type = "submit"; b.className = "submit-answer"; b.textContent = "Answer";
      form.append(labelled("Your answer", value), b);
    }
    box.appendChild(form);
    return box;
  }
  function loadPending() {
    fetch(runPath + "/pending", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        approvals.replaceChildren();
        for (const call of data.calls || []) {
          const box = document.createElement("article");
          box.className = "call";
          box.dataset.call = call.call_id;
          const title = document.createElement("h2");
          title.textContent = call.tool + " waits for a person (call " + call.call_id + ")";
          const args = document.createElement("pre");
          args.className = "arguments";
          args.textContent = call.arguments;
          box.append(title, args);
          if (call.policy) {
            const why = document.createElement("p");
            why.className = "policy";
            why.textContent = "asked by the approval policy: " + policyText(call.policy);
            box.appendChild(why);
          }
          if (data.may_decide) {
            const form = document.createElement("form");
            form.method = "post"; form.action = runPath + "/decide"; form.className = "decide";
            field(form, "csrf", csrf); field(form, "call_id", call.call_id);
            field(form, "digest", call.digest || ""); field(form, "back", location.pathname);
            const reason = document.createElement("input"); reason.name = "reason";
            const edit = document.createElement("textarea"); edit.name = "arguments";
            edit.rows = 4; edit.value = call.arguments;
            form.append(labelled("Reason", reason), labelled("Arguments", edit));
            for (const action of ["approve", "reject"]) {
              const b = document.createElement("button");
              b.type = "submit"; b.name = "action"; b.value = action; b.className = action;
              b.textContent = action === "approve" ? "Approve" : "Reject";
              form.appendChild(b);
            }
            box.appendChild(form);
          }
          approvals.appendChild(box);
        }
        for (const question of data.questions || []) approvals.appendChild(asked(question, data.may_decide));
      })
      .catch(function () { /* the next event asks again */ });
  }
  loadPending();
})();
