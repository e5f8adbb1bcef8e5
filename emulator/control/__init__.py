"""The control plane: an HTTP API (FastAPI, bearer token) and the ``scaleunit`` commands that
use it to operate a running rack: status, node actions, faults, replacement, chaos, events.

``plane`` holds what it does (protocol-free), ``app`` the routes and the one error table,
``feed`` the event stream, ``server`` uvicorn on the rack's loop, ``client`` the CLI's side.
"""
