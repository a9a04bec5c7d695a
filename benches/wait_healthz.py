"""Waits (up to 30 s) until the server at the URL given answers /healthz: the benchmark
scripts start a server, then wait here before they load it."""
import sys, time, urllib.request

deadline = time.time() + 30
while True:
    try:
        urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=1).read()
        break
    except Exception:
        if time.time() > deadline:
            sys.exit("the server did not start")
        time.sleep(0.01)
