#!/usr/bin/env python3
"""A throwaway TLS certificate for the tests, benchmarks and tools: a
self-signed EC P-256 certificate for localhost and 127.0.0.1, made when a
run starts so that no key is ever committed.

    from certificate import make_certificate     # with tools/ on sys.path
    certfile, keyfile = make_certificate(folder)  # folder/cert.pem, folder/key.pem

Standard library only; needs the openssl program.
"""
import os
import subprocess


def make_certificate(folder, certfile="cert.pem", keyfile="key.pem", days=2):
    """Writes the certificate and its key into folder (made if missing) and
    returns their paths (certfile, keyfile); raises RuntimeError with
    openssl's own words if it fails."""
    os.makedirs(folder, exist_ok=True)
    certfile, keyfile = os.path.join(folder, certfile), os.path.join(folder, keyfile)
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", keyfile, "-out", certfile, "-days", str(days),
               "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, timeout=60)
    if run.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(command), run.stdout.decode(errors="replace")))
    return certfile, keyfile
