"""``graphrec serve export=<dir>``: the HTTP top-K service over an exported artefact (the ``[serve]`` extra)."""

from __future__ import annotations

from graphrec.cli.args import fail, kv_args


def main(argv: list[str]) -> None:
    args = kv_args(argv, {"export", "host", "port", "index", "ef_search"}, {"export"})
    port = args.get("port", 8000)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port < 65536:
        fail(f"port: expected an integer 0..65535, got '{port}'")
    try:
        import uvicorn

        from graphrec.serving.app import create_app, service_from_export
    except ImportError:
        fail("graphrec serve needs the optional packages: pip install \"graphrec[serve]\"")
    service = service_from_export(args["export"], str(args.get("index", "exact")), int(args.get("ef_search", 128)))
    host = str(args.get("host", "127.0.0.1"))
    _check_port_free(host, port)
    print(f"serving {service.art.manifest.get('model')} on {service.art.manifest.get('dataset')} "
          f"({service.index_name}) at http://{host}:{port}", flush=True)
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning")


def _check_port_free(host: str, port: int) -> None:
    """One line before "serving ... at" when the address cannot be bound (in use, or not this machine's)."""
    import socket

    try:
        family = socket.getaddrinfo(host, port)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
    except OSError as exc:
        fail(f"port: cannot listen on {host}:{port} ({exc.strerror or exc}); choose another port=")
