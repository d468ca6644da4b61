"""The lab's demo worker: drains the Redis job queue into PostgreSQL's jobs table, one job at a time."""
import json
import logging
import socket
import time

import demoapp


def normalise(payload):
    """The job as stored: its JSON, or a wrapper for a payload that is not JSON (stored, never retried forever)."""
    try:
        return json.dumps(json.loads(payload), sort_keys=True)
    except ValueError:
        return json.dumps({"unparsed": payload})


def process(conn, payload):
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO jobs (payload, processed_by) VALUES (%s, %s)",
                    (normalise(payload), socket.gethostname()))


def run(cfg, stop_after=None):
    client = demoapp.redis_connect(cfg)
    done = 0
    while stop_after is None or done < stop_after:
        item = client.brpop(cfg["queue"], timeout=2)
        if item is None:
            continue
        payload = item[1].decode()
        try:
            conn = demoapp.db_connect(cfg)
            try:
                process(conn, payload)
            finally:
                conn.close()
            done += 1
        except Exception:
            # Never lose a job: put it back where it came from and let systemd's restart pace the retries.
            client.rpush(cfg["queue"], payload)
            raise
    return done


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    while True:
        try:
            run(demoapp.settings())
        except Exception as e:  # keep the worker alive through DB/Redis outages
            logging.warning("worker: %s; retrying in 2 s", e)
            time.sleep(2)
