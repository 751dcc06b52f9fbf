"""The request handler (events/request_handler.py) on a real server: POST /events starts no
thread and sends nothing to one, while a sync view (the admin's) runs in a worker thread, one
lent to each request, not started for it.

The server runs under tests/support/counting_server.py, which notes each thread started and each
call sent to a worker thread, with its time; the test compares those times with its own.
"""

import json
import time
import uuid

import httpx

from tests.support.server import Server

REQUESTS = 300
ADMIN_PAGES = 20


def bodies(source: str):
    """Single events, batches and binary-mode events, in turn."""
    for n in range(REQUESTS):
        event = {"specversion": "1.0", "id": str(n), "source": source, "type": "t", "data": n}
        if n % 3 == 0:
            yield {"Content-Type": "application/cloudevents+json"}, json.dumps(event)
        elif n % 3 == 1:
            batch = [{**event, "id": f"{n}-{k}"} for k in range(10)]
            yield {"Content-Type": "application/cloudevents-batch+json"}, json.dumps(batch)
        else:
            headers = {f"ce-{k}": str(v) for k, v in event.items() if k != "data"}
            yield {**headers, "Content-Type": "application/json"}, json.dumps(n)


def test_post_events_starts_no_thread_and_hops_to_none(tmp_path):
    log = tmp_path / "threads.jsonl"
    server = Server(
        env={"RELAYMAN_THREAD_LOG": str(log)}, launcher=("-m", "tests.support.counting_server")
    )
    source = f"/tests/{uuid.uuid4().hex}"
    with server, httpx.Client(base_url=server.url, timeout=10) as client:
        for headers, body in list(bodies(source))[:10]:  # warm: first-use imports and caches
            assert client.post("/events", content=body, headers=headers).status_code == 201
        started = time.monotonic()
        for headers, body in bodies(source):
            answer = client.post("/events", content=body, headers=headers)
            assert answer.status_code == 201, answer.text
        posted = time.monotonic()
        for _ in range(ADMIN_PAGES):
            assert client.get("/admin/login/").status_code == 200
        ended = time.monotonic()
    noted = [json.loads(line) for line in log.read_text().splitlines()]

    during_posts = [entry for entry in noted if started <= entry["at"] <= posted]
    assert during_posts == [], f"{REQUESTS} POSTs started threads or hopped: {during_posts[:5]}"
    admin = [entry for entry in noted if posted <= entry["at"] <= ended]
    hops = [entry for entry in admin if entry["kind"] == "hop"]
    threads = [entry["what"] for entry in admin if entry["kind"] == "thread"]
    assert len(hops) >= ADMIN_PAGES, admin  # the count sees hops: the admin's views are sync
    # Workers are lent, not started per page. A page's answer reaches the client before its
    # thread has closed the request (request_finished) and gone back, so the next page may need
    # a second one, and on a loaded machine a third (seen once in a clean-clone run): as many as
    # pages overlap, far fewer than one per page.
    assert len(threads) < ADMIN_PAGES // 4, threads
