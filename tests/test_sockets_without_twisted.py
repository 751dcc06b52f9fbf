"""The sockets app under a server other than daphne, where twisted may not be installed."""

import subprocess
import sys

from tests.support.server import ROOT


def test_the_consumer_imports_without_twisted_for_servers_other_than_daphne():
    """A host project served by uvicorn need not install daphne: no socket is daphne's then."""
    blocker = (
        "import sys\n"
        "class NoTwisted:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'twisted' or name.startswith('twisted.'):\n"
        "            raise ImportError('no twisted here')\n"
        "sys.meta_path.insert(0, NoTwisted())\n"
        "from sockets import daphne_connection\n"
        "print(daphne_connection.IMMEDIATE, daphne_connection.of(lambda message: None))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocker], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout.strip()) == (0, "False None"), done.stderr
