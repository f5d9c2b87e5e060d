"""Starts moto's server on 127.0.0.1 for one test file, and stops it when its parent goes away.

Prints one JSON line, {"port": N}, once it serves; exits when stdin closes (the test process ended,
or was killed), so no server outlives the run. The account comes from MOTO_ACCOUNT_ID and IAM
enforcement from INITIAL_NO_AUTH_ACTION_COUNT, both read by moto when it is imported. CloudFormation
is extended (cloudformation_extensions.py, pinned to the moto version it was written for).
"""
import json
import sys

from moto.moto_server.threaded_moto_server import ThreadedMotoServer

# Before the server answers anything: the resource types and behaviours our stacks need (without
# leaving a __pycache__ in the source tree).
sys.dont_write_bytecode = True
import cloudformation_extensions  # noqa: E402,F401


def main() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(json.dumps({"port": port}), flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
