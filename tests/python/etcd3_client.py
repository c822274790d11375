"""The python `etcd3` client (PyPI) against one server at 127.0.0.1:<port>:
KV, leases with expiry, keep-alive (refresh), time-to-live, attached
keys and revoke, watches (live and from history), and its lock recipe
(txn, lease and watch together). Exits non-zero, saying which step failed, on any surprise.
Run by tests/python_clients.rs."""

import sys
import time

import etcd3


def check(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")
    print(f"ok: {what}")


c = etcd3.client(host="127.0.0.1", port=int(sys.argv[1]))

c.put("py/k", "v")
check("get after put", c.get("py/k")[0], b"v")

# A lease with expiry: its key goes when the TTL runs out.
short = c.lease(2)
check("granted TTL", short.granted_ttl, 2)
c.put("py/short", "x", lease=short)
check("leased key readable", c.get("py/short")[0], b"x")
check("attached keys", short.keys, [b"py/short"])
time.sleep(4)
check("leased key gone after expiry", c.get("py/short")[0], None)
check("expired lease's TTL", short.remaining_ttl, -1)

# Kept alive past its TTL: the key stays.
kept = c.lease(3)
c.put("py/kept", "y", lease=kept)
for _ in range(3):
    time.sleep(1.5)
    check("refresh TTL", kept.refresh()[0].TTL, 3)
check("kept-alive key still there", c.get("py/kept")[0], b"y")
check("remaining TTL after a refresh", kept.remaining_ttl in (2, 3), True)

# Revoked: the key goes at once.
kept.revoke()
check("key gone after revoke", c.get("py/kept")[0], None)

# A put with an unknown lease is refused with etcd's error.
try:
    c.put("py/bad", "z", lease=0x1234)
    sys.exit("put with an unknown lease: no error")
except Exception as e:  # etcd3 raises its own exception types
    check("unknown lease error", "requested lease not found" in str(e), True)

# Watch: a key's events as they happen, in order.
events, cancel = c.watch("py/w")
c.put("py/w", "1")
c.delete("py/w")
e1, e2 = next(events), next(events)
check("watched put", (type(e1).__name__, e1.key, e1.value), ("PutEvent", b"py/w", b"1"))
check("watched delete", (type(e2).__name__, e2.key), ("DeleteEvent", b"py/w"))
check("watched revisions increase", e2.mod_revision > e1.mod_revision, True)
cancel()

# And from history: a prefix watch from revision 1 replays the first put.
events, cancel = c.watch_prefix("py/", start_revision=1)
first = next(events)
check("history from revision 1", (first.key, first.value, first.mod_revision), (b"py/k", b"v", 2))
cancel()

# The client's lock: one holder at a time, the next gets it on release.
a = c.lock("py-lock", ttl=10)
check("lock acquired", a.acquire(timeout=5), True)
b = c.lock("py-lock", ttl=10)
check("held lock refused to another", b.acquire(timeout=1), False)
check("released", a.release(), True)
check("released lock acquired by the other", b.acquire(timeout=5), True)
check("second holder released", b.release(), True)

print("all python etcd3 checks passed")
