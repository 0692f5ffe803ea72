"""HTTP for the remote readers, one module per concept.

- :mod:`.retry`: when to retry, how long to wait, and the errors remote reads raise;
- :mod:`.client`: pooled sessions, one classified request (:func:`~.client.request`), :func:`~.client.stat`;
- :mod:`.range_file`: a seekable file over range requests;
- :mod:`.filesystem`: the ``http(s)://`` Beam filesystem.
"""
