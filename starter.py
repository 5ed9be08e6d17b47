"""Start, follow and steer Tether agent runs from the command line.

python starter.py run "Order A-1001 arrived broken, I want my money back."
python starter.py run "..." --detach --json      # then: status, approve, watch ...
python starter.py chat                           # a conversation
python starter.py --help                         # every command
"""

from __future__ import annotations

from cli.main import main
from tether.process import exit_now

if __name__ == "__main__":
    exit_now(main())
