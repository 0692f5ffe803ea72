"""Which token a Hub request sends, and the headers that carry it.

The token is ``token=``, else the one given to :func:`set_token` for that repo in this process,
else ``HF_TOKEN`` (or the saved login). It only travels in the ``Authorization`` header:
messages, reprs, paths and pickles never hold it.

>>> set_token("owner/name", "hf_example")
>>> get_token("owner/name"), get_token("owner/name", token=False)
('hf_example', None)
>>> forget_tokens()
>>> "Authorization" in auth_headers(None)
False
"""

from __future__ import annotations

import threading

_tokens: dict[tuple[str, str], str] = {}
_tokens_lock = threading.Lock()


def set_token(repo_id: str, token: str | None, repo_type: str = "dataset") -> None:
    """Use ``token`` for ``repo_id`` in this process (hf:// reads included); None forgets it."""
    with _tokens_lock:
        if token:
            _tokens[(repo_type, repo_id)] = token
        else:
            _tokens.pop((repo_type, repo_id), None)


def forget_tokens() -> None:
    """Forget every token given to :func:`set_token` in this process."""
    with _tokens_lock:
        _tokens.clear()


def get_token(repo_id: str | None = None, token: str | bool | None = None, repo_type: str = "dataset"):
    """The token to send: ``token``, else one set for the repo, else ``HF_TOKEN``/saved login.

    ``token=False`` sends none.
    """
    if token is False:
        return None
    if isinstance(token, str) and token:
        return token
    if repo_id is not None:
        with _tokens_lock:
            found = _tokens.get((repo_type, repo_id))
        if found:
            return found
    from huggingface_hub import get_token as hf_get_token

    return hf_get_token()


def auth_headers(token: str | None) -> dict[str, str]:
    """The headers of a Hub request: a User-Agent, and the token if there is one."""
    headers = {"User-Agent": "crucible-datasets; huggingface_hub-compatible"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers
