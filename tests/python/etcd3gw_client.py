"""etcd3gw (OpenStack's client of etcd's JSON gateway, from PyPI) against a
server on 127.0.0.1:<port>: what a user of the library does with KV,
transactions, watches, leases and locks. Prints a final line the Rust test
looks for; any failed check raises."""

import sys
import threading
import time

import etcd3gw

port = int(sys.argv[1])
client = etcd3gw.client(host="127.0.0.1", port=port)

# The library finds the API path from /version (>= 3.4: /v3/).
assert client.api_path == "/v3/", client.api_path
status = client.status()
assert status["version"].startswith("3.4"), status
assert len(client.members()) == 1, client.members()

# KV.
assert client.put("foo", "bar") is True
assert client.get("foo") == [b"bar"], client.get("foo")
value, meta = client.get("foo", metadata=True)[0]
assert value == b"bar" and meta["key"] == b"foo" and int(meta["version"]) == 1, meta
assert client.get("missing") == []
for i in range(3):
    client.put(f"dir/{i}", f"v{i}")
assert sorted(client.get_prefix("dir/")) == sorted(
    (f"v{i}".encode(), m) for i, (_, m) in enumerate(client.get_prefix("dir/"))
)
assert [v for v, _ in client.get_prefix("dir/", sort_order="ascend", sort_target="key")] == [
    b"v0",
    b"v1",
    b"v2",
]
assert client.create("foo", "other") is False  # exists: the txn's compare fails
assert client.create("new", "one") is True
assert client.replace("new", "one", "two") is True
assert client.replace("new", "one", "three") is False
assert client.get("new") == [b"two"]
assert client.delete("new") is True
assert client.delete("new") is False
assert client.delete_prefix("dir/") is True
assert client.get_prefix("dir/") == []

# Watch: a put and a delete arrive as events on the stream.
events = []
got_two = threading.Event()


def on_event(event):
    events.append(event)
    if len(events) >= 2:
        got_two.set()


watcher = etcd3gw.watch.Watcher(client, "watched", on_event)
time.sleep(0.5)
client.put("watched", "1")
client.delete("watched")
assert got_two.wait(10), events
watcher.stop()
assert events[0]["kv"]["key"] == b"watched" and events[0]["kv"]["value"] == b"1", events
assert events[1].get("type") == "DELETE", events

# Leases: grant, attach, keep alive, time to live, revoke; expiry removes keys.
lease = client.lease(ttl=30)
assert 0 < lease.ttl() <= 30
assert client.put("leased", "x", lease=lease) is True
assert lease.keys() == [b"leased"], lease.keys()
assert lease.refresh() == 30
assert lease.revoke() is True
assert client.get("leased") == []
short = client.lease(ttl=2)
client.put("short", "y", lease=short)
deadline = time.time() + 15
while client.get("short") and time.time() < deadline:
    time.sleep(0.5)
assert client.get("short") == [], "a lease that expired left its key"

# Lock (a lease and a transaction underneath).
lock = client.lock(id="gw-lock", ttl=10)
assert lock.acquire() is True
assert lock.is_acquired()
assert lock.release() is True

print("all etcd3gw checks passed")
