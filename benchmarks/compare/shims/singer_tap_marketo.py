"""Runs singer-io's tap-marketo unchanged except for one thing: where it sends requests.

tap-marketo builds every URL as https://<munchkin id>.mktorest.com/<path> from the munchkin id in
its `endpoint` setting (Client.get_url), so it cannot be pointed at another host by
configuration. This launcher replaces Client.get_url to send the same paths to the sandbox
(COMPARE_BASE_URL); identity, REST and bulk calls, headers, retries and parsing are the
installed package's own. Runs with the competitor's venv python:

    COMPARE_BASE_URL=http://127.0.0.1:PORT python singer_tap_marketo.py --config ... --catalog ...
"""

import os

import tap_marketo
import tap_marketo.client

BASE_URL = os.environ["COMPARE_BASE_URL"].rstrip("/")


def _get_url(self, url):
    return f"{BASE_URL}/{url}"


tap_marketo.client.Client.get_url = _get_url

if __name__ == "__main__":
    tap_marketo.main()
