"""``scripts/testhost`` (``python -m caas.testhost``): the command line of test hosts.

    testhost up NAME [--join TOKEN]     start test host NAME (and the agent, with a join token)
    testhost exec NAME -- COMMAND...    run COMMAND in it; its exit status is COMMAND's
    testhost down NAME...               stop it and remove everything it made
    testhost list                       the test hosts and the bridge's address

State: $CAAS_TESTHOST_HOME (default /var/lib/caas-testhosts); the bridge's network:
$CAAS_TESTHOST_CIDR (default 10.254.0.0/24); its MTU: $CAAS_TESTHOST_MTU (default 1500).
Errors are one line on stderr, exit status 1 (2 for a usage error).
"""

from __future__ import annotations

import os
import sys

from caas.testhost.hosts import Home, TestHostError, down, enter, listing, need_root, up

USAGE = __doc__.split("\n\n")[1]


def _usage(message: str) -> int:
    print(f"testhost: {message}\nusage:\n{USAGE}", file=sys.stderr)
    return 2


def _up(home: Home, args: list[str]) -> int:
    if len(args) == 3 and args[1] == "--join":
        token = args[2]
    elif len(args) == 2 and args[1].startswith("--join="):
        token = args[1].split("=", 1)[1]
    elif len(args) == 1:
        token = None
    else:
        return _usage("up takes NAME [--join TOKEN]")
    rec = up(home, args[0], token)
    print(f"test host {rec['name']} is up: address {rec['address']}, init pid {rec['init']['pid']}"
          + (f", agent pid {rec['agent']['pid']} (log {home.dir(rec['name']) / 'agent.log'})" if rec["agent"] else ""))
    return 0


def _exec(home: Home, args: list[str]) -> int:
    if len(args) < 3 or args[1] != "--":
        return _usage("exec takes NAME -- COMMAND...")
    need_root()
    cwd = os.getcwd()
    if cwd == "/run" or cwd.startswith("/run/"):  # the test host has its own /run
        cwd = "/"
    argv = enter(home.require(args[0]), args[2:], cwd)
    sys.stdout.flush()
    os.execvp(argv[0], argv)  # nsenter waits for COMMAND and exits with its status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if argv else 2
    command, args = argv[0], argv[1:]
    try:
        home = Home()
        if command == "up":
            return _up(home, args)
        if command == "exec":
            return _exec(home, args)
        if command == "down":
            if not args:
                return _usage("down takes NAME...")
            for name in args:
                removed = down(home, name)
                print(f"test host {name} is down: removed {', '.join(removed) or 'what was left'}")
            return 0
        if command == "list" and not args:
            print("\n".join(listing(home)) or "no test hosts")
            return 0
    except TestHostError as exc:
        print(f"testhost: {exc}", file=sys.stderr)
        return 1
    return _usage(f"unknown command {command!r}" if command != "list" else "list takes no arguments")


if __name__ == "__main__":
    sys.exit(main())
