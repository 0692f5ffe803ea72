"""``sql("SELECT ... FROM batch WHERE ...")``: per-row projections and filters run by DuckDB.

Each Arrow batch is registered as the table ``batch`` and the statement runs over it, so it
should work row by row (projections, ``WHERE``, ``list_filter``, ``length``...): an aggregate or
``ORDER BY`` would see one batch, not the dataset. The statement is checked when the stage is
made: one ``SELECT`` whose tables are all ``batch`` (or its own ``WITH`` names); a syntax error
is a ValueError quoting DuckDB. A column the batch does not have is a
:class:`~crucible_datasets.errors.ColumnNotFoundError` naming it and the columns that exist.

DuckDB runs with external access disabled (no files, no network, no extensions) and its
configuration locked before any user SQL; one connection per thread, made on first use, so the
stage pickles to Beam's workers. Needs the ``duckdb`` package (``pip install
'crucible-datasets[sql]'``); importing ``crucible_datasets`` does not import it.

>>> from crucible_datasets.batch import Batch
>>> stage = Sql("SELECT id, upper(name) AS name FROM batch WHERE id > 1")
>>> stage.process(Batch.from_rows([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])).rows
[{'id': 2, 'name': 'B'}]
>>> sorted(stage.input_columns(None))
['id', 'name']
>>> Sql("DELETE FROM batch")
Traceback (most recent call last):
...
ValueError: sql 'DELETE FROM batch': only a SELECT statement is allowed, got DELETE
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, ClassVar

from crucible_datasets.batch import Batch
from crucible_datasets.errors import ColumnNotFoundError
from crucible_datasets.transforms.base import Stage

TABLE = "batch"
_local = threading.local()
_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise ImportError(
            "the sql stage needs DuckDB: pip install duckdb (or pip install 'crucible-datasets[sql]')"
        ) from None
    return duckdb


def connection() -> Any:
    """This thread's DuckDB connection: no external access, configuration locked."""
    con = getattr(_local, "connection", None)
    if con is None:
        con = _duckdb().connect(config={"enable_external_access": False, "lock_configuration": True})
        _local.connection = con
    return con


class Sql(Stage):
    """Run one ``SELECT ... FROM batch`` over every batch; declarative (Arrow in, Arrow out)."""

    declarative: ClassVar[bool] = True

    def __init__(self, query: str) -> None:
        if not isinstance(query, str):
            raise TypeError(f"sql takes a SELECT statement as a string, got {type(query).__name__}")
        self.query = query
        self._columns = _check(query)

    def __getstate__(self) -> dict:
        return {"query": self.query}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["query"])

    def input_columns(self, needed_after: frozenset[str] | None) -> frozenset[str] | None:
        """Every name the statement mentions (None for ``*``): the batch's columns among them."""
        return self._columns

    def process(self, batch: Batch) -> Batch | None:
        con = connection()
        duckdb = _duckdb()
        arrow = batch.arrow
        con.register(TABLE, arrow)
        try:
            table = con.sql(self.query).to_arrow_table()
        except duckdb.BinderException as exc:
            missing = _MISSING_COLUMN.search(str(exc))
            if missing:
                raise ColumnNotFoundError(
                    f"sql {self.query!r}", [missing.group(1)], arrow.schema.names
                ) from None
            raise
        finally:
            con.unregister(TABLE)
        return Batch.from_arrow(table) if table.num_rows else None


def _check(query: str) -> frozenset[str] | None:
    """ValueError unless ``query`` is one SELECT over ``batch``; the names it mentions (None: ``*``)."""
    duckdb = _duckdb()
    shown = query if len(query) <= 200 else f"{query[:200]}..."
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise ValueError(f"sql {shown!r} is not valid: {exc}") from None
    if len(statements) != 1:
        raise ValueError(f"sql {shown!r}: give exactly one SELECT statement, got {len(statements)}")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise ValueError(f"sql {shown!r}: only a SELECT statement is allowed, got {kind.name}")
    tree = json.loads(connection().execute("SELECT json_serialize_sql($1)", [query]).fetchall()[0][0])
    if tree.get("error"):
        raise ValueError(f"sql {shown!r} is not valid: {tree.get('error_message', tree)}")
    tables, ctes, names, star = set(), set(), set(), False
    for node in _nodes(tree):
        kind = node.get("type")
        if kind == "BASE_TABLE":
            tables.add(node["table_name"])
        elif kind == "TABLE_FUNCTION":
            raise ValueError(f"sql {shown!r}: table functions are not allowed; select FROM {TABLE}")
        elif kind == "COLUMN_REF":
            names.update(node["column_names"])
        elif kind == "STAR":
            star = True
        ctes.update(entry["key"] for entry in node.get("cte_map", {}).get("map", ()))
    other = sorted(tables - ctes - {TABLE})
    if other or TABLE not in tables:
        found = f"it reads {', '.join(other)}" if other else "it reads no table"
        raise ValueError(
            f"sql {shown!r}: the statement must select FROM {TABLE} (the current batch); {found}"
        )
    return None if star else frozenset(names)


def _nodes(value: object):
    """Every dict in a JSON tree (walked without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
