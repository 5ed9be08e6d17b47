"""The support desk's own workflows: the refund pipeline, written on `tether.Pipeline`
(AgentWorkflow itself comes with Tether)."""
