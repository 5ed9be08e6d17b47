"""An issue-triage agent, durable with Tether."""
