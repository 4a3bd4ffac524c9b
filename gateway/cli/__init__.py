"""The command line, `rollgate` (and `python -m gateway`): an edge, above everything it drives.

    parser.py     the argument tree: every command and flag (argparse only)
    dispatch.py   `main`: parse, set up logging, import and run the one command asked for
    serve.py      `serve`, `stdio`
    token.py      `token`
    authoring.py  `policy eval | test | schema`, `plan`
    ledger.py     `ledger verify | show | export | public-key | checkpoint | rotate-key`
    approvals.py  `approvals list | show | approve | deny`
    rollback.py   `rollback`, `quarantine` (asked of the running gateway over its REST API)
    witness.py    `witness serve | key`, and `ledger verify --witness`
    output.py     tables and progress bars on a terminal, plain lines when piped

Importing this package loads only the argument tree.
"""

from gateway.cli.dispatch import main

__all__ = ["main"]
