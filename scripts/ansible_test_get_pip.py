"""Stand-in for the pip bootstrap script that ansible-test downloads (get-pip.py).

This machine (and CI) reaches PyPI but not the host ansible-test downloads its
bootstrap script from. ansible-test runs the script as
``python get_pip.py pip==X [--no-setuptools] [--no-wheel] [pip options]`` inside a
fresh virtual environment; we do the same with the standard library's
``ensurepip`` and then pip itself, using the machine's CA bundle (the venvs do
not inherit the system pip configuration's certificate).
"""

import os
import subprocess
import sys


def main():
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    cert = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
    extra = ["--cert", cert] if os.path.exists(cert) else []
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + extra + args)


if __name__ == "__main__":
    main()
