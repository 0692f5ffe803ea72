"""Hugging Face Hub repos, one module per concept.

- :mod:`.paths`: ``hf://`` URLs, repo ids, safe repo file names (:class:`~.paths.HubPath`);
- :mod:`.tokens`: which token a request sends (never shown in messages, reprs or pickles);
- :mod:`.api`: the endpoint, repo info, commit pinning, listings (``/api/datasets/...``);
- :mod:`.files`: a seekable reader of one repo file, pinned to a commit;
- :mod:`.download`: downloads into the standard HF cache;
- :mod:`.dataset`: a Hub dataset as a :class:`~crucible_datasets.storage.discovery.Layout`;
- :mod:`.filesystem`: the ``hf://`` Beam filesystem.

Requests follow :mod:`crucible_datasets.storage.http.retry`.
"""
