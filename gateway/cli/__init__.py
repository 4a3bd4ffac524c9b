"""The command line, `rollgate` (and `python -m gateway`): an edge, above everything it drives.

    parser.py     the argument tree: every command and flag (argparse only)
    dispatch.py   `main`: parse, set up logging, import and run the one command asked for
    serve.py      `serve`, `stdio`
    token.py      `token`
    authoring.py  `policy eval | test | schema`, `plan`
    ledger.py     `ledger verify | show | export | public-key | checkpoint | rotate-key`
    approvals.py  `approvals list | show | approve | deny`
    rollback.py   `rollback`, `quarantine` (asked of the running gateway over its REST API)
    guards.py     `stop`, `resume`, `tools changed | accept` (the same)
    status.py     `status [--json]` (the same)
    witness.py    `witness serve | key`, and `ledger verify --witness`
    remote.py     how a command asks the running gateway, as an operator
    output.py     tables and progress bars on a terminal, plain lines when piped
    logs.py       logging for every command (libraries quiet unless DEBUG)

Importing this package loads the argument tree and `dispatch`; each command's module is imported
when it runs.
"""

from gateway.cli.dispatch import main

__all__ = ["main"]
