"""What the tests share, one module per concern: processes and servers, waiting with
deadlines, approvals, reading histories, and the small agents the tests serve (also
from `tether worker --agents tests.support.MODULE:REGISTRY` subprocesses)."""
