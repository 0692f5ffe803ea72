"""Safe column expressions: ``score > 0.5 and difficulty >= 3``, ``len(response)``.

The text is parsed with :mod:`ast` and only a small grammar is accepted: column names, literals,
comparisons, ``in``/``not in`` a literal list, ``and``/``or``/``not``, ``+ - * /``,
``len(value)``, ``is None``/``is not None``, a struct's field ``turn["from"]``, a list's item
``tags[0]`` (``tags[-1]`` from the end) and a list comprehension over a list column,
``[t["value"] for t in conversations if t["from"] == "gpt"]``. Nothing is ever evaluated with
``eval``. One compiled :class:`Expression` runs on rows (a Python function of a row) and on
Arrow (pyarrow compute over a batch's columns), with the same results:

- null (None) in, null out: a comparison, an arithmetic with a null operand, a struct field of
  a null, ``len`` of a null are null; a list item past the end is null (as in SQL); ``x / 0``
  is null; ``and``/``or`` are Kleene's (``null or true`` is true);
- ``len`` of a string counts its characters (code points, as Python and DuckDB's ``length``),
  of a list its items; it is always an int64, also for a batch whose values are all null;
- ``/`` is true division (a float64, also between integers), as in Python.

A filter keeps only rows where the expression is true (SQL semantics). A column the data does
not have is a :class:`~crucible_datasets.errors.ColumnNotFoundError` (when: see
``transforms/columns.py``), never a filter that silently keeps nothing.

An expression is bounded before it is compiled: at most :data:`MAX_EXPRESSION_CHARS`
characters, :data:`MAX_EXPRESSION_NODES` syntax nodes and :data:`MAX_EXPRESSION_DEPTH` levels
of nesting (a bigger one is a ValueError saying so, never a crash of the interpreter); use
``x in [...]`` for a long list of values.

>>> from crucible_datasets.batch import Batch
>>> f = ExpressionFilter("score > 0.5 and difficulty >= 3")
>>> f.process(Batch.from_rows([{"score": 0.9, "difficulty": 4}, {"score": None, "difficulty": 9}])).rows
[{'score': 0.9, 'difficulty': 4}]
>>> first_gpt = Expression('[t["value"] for t in turns if t["from"] == "gpt"][0]')
>>> rows = [{"turns": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "héllo"}]}, {"turns": []}]
>>> [first_gpt.row(r) for r in rows], first_gpt.arrow(pa.RecordBatch.from_pylist(rows)).to_pylist()
(['héllo', None], ['héllo', None])
>>> ExpressionFilter("__import__('os')")
Traceback (most recent call last):
...
ValueError: filter expression "__import__('os')": function calls other than len() are not allowed
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from crucible_datasets.batch import Batch
from crucible_datasets.transforms.base import Stage
from crucible_datasets.transforms.columns import ColumnCheck

_COMPARE = {
    ast.Gt: (operator.gt, "greater"),
    ast.GtE: (operator.ge, "greater_equal"),
    ast.Lt: (operator.lt, "less"),
    ast.LtE: (operator.le, "less_equal"),
    ast.Eq: (operator.eq, "equal"),
    ast.NotEq: (operator.ne, "not_equal"),
}
_ARITH = {
    ast.Add: (operator.add, "add_checked"),
    ast.Sub: (operator.sub, "subtract_checked"),
    ast.Mult: (operator.mul, "multiply_checked"),
    ast.Div: (operator.truediv, None),  # true division: ``_Scope.divide``
}

RowFn = Callable[[dict], object]
# An Arrow operand: an array or scalar (evaluating on a batch), or a pc.Expression (a pushdown).
Operand = pa.Array | pa.Scalar | pc.Expression
ArrowFn = Callable[["_Scope"], Operand]

MAX_EXPRESSION_CHARS = 100_000
MAX_EXPRESSION_NODES = 10_000  # literal items of an ``in [...]`` list count too
MAX_EXPRESSION_DEPTH = 64


class _NotAnArrowExpression(Exception):
    """The expression needs the data itself (a list item, a comprehension): no ``pc.Expression``."""


class _Scope:
    """What names mean on Arrow: fields of a ``pc.Expression``, for a reader's pushdown."""

    def column(self, name: str) -> Operand:
        return pc.field(name)

    def literal(self, value: object) -> Operand:
        return pc.scalar(value)

    def length(self, value: Operand) -> Operand:
        return pc.utf8_length(value)

    def divide(self, a: Operand, b: Operand) -> Operand:
        quotient = pc.divide(a.cast(pa.float64()), b.cast(pa.float64()))
        return pc.if_else(pc.equal(b, 0), pa.scalar(None, pa.float64()), quotient)

    def item(self, value: Operand, index: int) -> Operand:
        raise _NotAnArrowExpression

    def comprehension(self, source: Operand, variable: str) -> tuple[_Scope, pa.Array]:
        raise _NotAnArrowExpression


class _Arrays(_Scope):
    """Names are a batch's columns (or, inside a comprehension, its items and their rows')."""

    def __init__(self, lookup: Callable[[str], pa.Array], size: int) -> None:
        self.lookup = lookup
        self.size = size

    def column(self, name: str) -> Operand:
        return self.lookup(name)

    def literal(self, value: object) -> Operand:
        return pa.scalar(value)

    def length(self, value: Operand) -> Operand:
        kind = value.type
        if pa.types.is_null(kind):
            return (
                pa.nulls(self.size, pa.int64())
                if isinstance(value, pa.Array)
                else pa.scalar(None, pa.int64())
            )
        if _is_list(kind):
            return pc.list_value_length(value).cast(pa.int64())
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            return pc.binary_length(value).cast(pa.int64())
        return pc.utf8_length(value).cast(pa.int64())

    def item(self, value: Operand, index: int) -> Operand:
        values = full(value, self.size)
        if pa.types.is_null(values.type):
            return values
        if not _is_list(values.type):
            raise ValueError(f"[{index}] takes an item of a list, but the value is {values.type}")
        lengths = pc.fill_null(pc.list_value_length(values), 0)
        starts = values.offsets.slice(0, len(values)) if index >= 0 else values.offsets.slice(1)
        exists = pc.greater(lengths, index) if index >= 0 else pc.greater_equal(lengths, -index)
        at = pc.if_else(exists, pc.add(starts, index), pa.scalar(None, starts.type))
        return pc.take(values.values, at)

    def comprehension(self, source: Operand, variable: str) -> tuple[_Scope, pa.Array]:
        lists = full(source, self.size)
        if not _is_list(lists.type):
            raise ValueError(f"a comprehension iterates over a list, but the value is {lists.type}")
        items = pc.list_flatten(lists)
        parents = pc.list_parent_indices(lists)
        outer, taken = self.lookup, {}

        def lookup(name: str) -> pa.Array:
            if name == variable:
                return items
            if name not in taken:  # an outer column, repeated for each item of its row
                taken[name] = pc.take(outer(name), parents)
            return taken[name]

        return _Arrays(lookup, len(items)), lists


def _is_list(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


def full(value: Operand, size: int) -> pa.Array:
    """``value`` as an array of ``size`` (a scalar repeated).

    >>> full(pa.scalar(2), 3).to_pylist()
    [2, 2, 2]
    """
    return pa.repeat(value, size) if isinstance(value, pa.Scalar) else value


class _Compiler:
    """Turns the checked AST into a row function and an Arrow function of a :class:`_Scope`."""

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what
        self.columns: set[str] = set()
        self.bound: list[str] = []  # comprehension variables in scope, innermost last

    def fail(self, why: str) -> ValueError:
        return ValueError(f"{self.what} {self.text!r}: {why}")

    def row(self, node: ast.AST) -> RowFn:  # noqa: C901 - one branch per grammar rule
        if isinstance(node, ast.Expression):
            return self.row(node.body)
        if isinstance(node, ast.Name):
            name = node.id
            if name not in self.bound:
                self.columns.add(name)
            return lambda r: r.get(name)
        if isinstance(node, ast.Constant):
            value = node.value
            return lambda r: value
        if isinstance(node, ast.List | ast.Tuple):
            items = [self._literal(e) for e in node.elts]
            return lambda r: items
        if isinstance(node, ast.BoolOp):
            parts = [self.row(v) for v in node.values]
            if isinstance(node.op, ast.And):
                return _all_of(parts)
            return _any_of(parts)
        if isinstance(node, ast.UnaryOp):
            inner = self.row(node.operand)
            if isinstance(node.op, ast.Not):
                return lambda r: None if (v := inner(r)) is None else not v
            if isinstance(node.op, ast.USub):
                return lambda r: None if (v := inner(r)) is None else -v
            raise self.fail(f"operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _ARITH:
                raise self.fail(f"operator {type(node.op).__name__} is not allowed")
            fn = _ARITH[type(node.op)][0]
            left, right = self.row(node.left), self.row(node.right)
            safe = _null_safe(fn)
            return lambda r: safe(left(r), right(r))
        if isinstance(node, ast.Compare):
            return self._compare_row(node)
        if isinstance(node, ast.Call):
            arg = self._len_argument(node)
            return lambda r: None if (v := arg(r)) is None else len(v)
        if isinstance(node, ast.Subscript):
            return self._subscript_row(node)
        if isinstance(node, ast.ListComp):
            return self._comprehension_row(node)
        raise self.fail(f"{type(node).__name__} is not allowed")

    def _literal(self, node: ast.AST) -> object:
        if isinstance(node, ast.Constant):
            return node.value
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
        ):
            return -node.operand.value
        raise self.fail("lists may hold only literal values")

    def _len_argument(self, node: ast.Call) -> RowFn:
        if (
            not (isinstance(node.func, ast.Name) and node.func.id == "len")
            or len(node.args) != 1
            or node.keywords
        ):
            raise self.fail("function calls other than len() are not allowed")
        return self.row(node.args[0])

    def _key(self, node: ast.Subscript) -> str | int:
        """The field name or list index of ``value[key]``: a literal string or integer."""
        key = node.slice
        if isinstance(key, ast.Constant | ast.UnaryOp):
            value = self._literal(key) if isinstance(key, ast.Constant) or _is_negative(key) else None
            if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
                return value
        raise self.fail("a subscript is a field name (turn['from']) or a whole-number index (tags[0])")

    def _subscript_row(self, node: ast.Subscript) -> RowFn:
        key, value = self._key(node), self.row(node.value)
        if isinstance(key, str):

            def field(r: dict) -> object:
                v = value(r)
                if v is None or isinstance(v, dict):
                    return None if v is None else v.get(key)
                raise ValueError(f"{self.what} {self.text!r}: [{key!r}] takes a field of a struct, got {v!r}")

            return field

        def item(r: dict) -> object:
            v = value(r)
            if v is None or isinstance(v, list | tuple):
                return v[key] if v is not None and -len(v) <= key < len(v) else None
            raise ValueError(f"{self.what} {self.text!r}: [{key}] takes an item of a list, got {v!r}")

        return item

    def _comprehension_parts(self, node: ast.ListComp) -> tuple[ast.comprehension, str]:
        if len(node.generators) != 1:
            raise self.fail("a comprehension has exactly one `for`")
        loop = node.generators[0]
        if not isinstance(loop.target, ast.Name) or loop.is_async:
            raise self.fail("a comprehension's `for` names one variable")
        return loop, loop.target.id

    def _comprehension_row(self, node: ast.ListComp) -> RowFn:
        loop, variable = self._comprehension_parts(node)
        source = self.row(loop.iter)
        self.bound.append(variable)
        element, conditions = self.row(node.elt), [self.row(c) for c in loop.ifs]
        self.bound.pop()

        def comprehension(r: dict) -> object:
            items = source(r)
            if items is None:
                return None
            if not isinstance(items, list | tuple):
                raise ValueError(
                    f"{self.what} {self.text!r}: a comprehension iterates over a list, got {items!r}"
                )
            scope, out = dict(r), []
            for item in items:
                scope[variable] = item
                if all(c(scope) is True for c in conditions):
                    out.append(element(scope))
            return out

        return comprehension

    def _compare_row(self, node: ast.Compare) -> RowFn:
        left = self.row(node.left)
        steps = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.row(comparator)
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(comparator, ast.List | ast.Tuple):
                    raise self.fail("`in` takes a literal list: x in [1, 2]")
                negate = isinstance(op, ast.NotIn)
                steps.append((lambda a, b, n=negate: None if a is None else (a in b) != n, right))
            elif isinstance(op, ast.Is | ast.IsNot):
                if not (isinstance(comparator, ast.Constant) and comparator.value is None):
                    raise self.fail("'is' only compares with None")
                negate = isinstance(op, ast.IsNot)
                steps.append((lambda a, b, n=negate: (a is None) != n, right))
            elif type(op) in _COMPARE:
                fn = _COMPARE[type(op)][0]
                steps.append((_null_safe(fn), right))
            else:
                raise self.fail(f"operator {type(op).__name__} is not allowed")

        if len(steps) == 1:
            (fn, right), (name, value) = steps[0], _column_and_constant(node)
            if name is not None and name not in self.bound:  # `column OP constant`: one lookup, one call
                return lambda r: fn(r.get(name), value)
            return lambda r: fn(left(r), right(r))

        def chained(r: dict) -> object:
            a, outcome = left(r), True
            for fn, right_fn in steps:
                b = right_fn(r)
                result = fn(a, b)
                if result is False:
                    return False
                if result is None:
                    outcome = None
                a = b
            return outcome

        return chained

    def arrow(self, node: ast.AST) -> ArrowFn:  # noqa: C901 - one branch per grammar rule
        if isinstance(node, ast.Expression):
            return self.arrow(node.body)
        if isinstance(node, ast.Name):
            name = node.id
            return lambda s: s.column(name)
        if isinstance(node, ast.Constant):
            value = node.value
            return lambda s: s.literal(value)
        if isinstance(node, ast.BoolOp):
            parts = [self.arrow(v) for v in node.values]
            combine = pc.and_kleene if isinstance(node.op, ast.And) else pc.or_kleene

            def kleene(s: _Scope) -> Operand:
                out = parts[0](s)
                for part in parts[1:]:
                    out = combine(out, part(s))
                return out

            return kleene
        if isinstance(node, ast.UnaryOp):
            inner = self.arrow(node.operand)
            unary = pc.invert if isinstance(node.op, ast.Not) else pc.negate_checked
            return lambda s: unary(inner(s))
        if isinstance(node, ast.BinOp):
            left, right, name = self.arrow(node.left), self.arrow(node.right), _ARITH[type(node.op)][1]
            if name is None:
                return lambda s: s.divide(left(s), right(s))
            arith = getattr(pc, name)
            return lambda s: arith(left(s), right(s))
        if isinstance(node, ast.Call):
            arg = self.arrow(node.args[0])
            return lambda s: s.length(arg(s))
        if isinstance(node, ast.Subscript):
            key, value = self._key(node), self.arrow(node.value)
            if isinstance(key, str):
                return lambda s: pc.struct_field(value(s), key)
            return lambda s: s.item(value(s), key)
        if isinstance(node, ast.ListComp):
            return self._comprehension_arrow(node)
        if isinstance(node, ast.Compare):
            return self._compare_arrow(node)
        raise self.fail(f"{type(node).__name__} is not allowed")

    def _compare_arrow(self, node: ast.Compare) -> ArrowFn:
        operands = [self.arrow(node.left)]
        steps: list[Callable[[Operand, Operand], Operand]] = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn | ast.Is | ast.IsNot):
                steps.append(_test(op, comparator, self._literal))
                operands.append(lambda s: None)  # the list, or None: part of the test
            else:
                steps.append(getattr(pc, _COMPARE[type(op)][1]))
                operands.append(self.arrow(comparator))

        def compare(s: _Scope) -> Operand:
            values = [operand(s) for operand in operands]
            out = None
            for i, step in enumerate(steps):
                result = step(values[i], values[i + 1])
                out = result if out is None else pc.and_kleene(out, result)
            return out

        return compare

    def _comprehension_arrow(self, node: ast.ListComp) -> ArrowFn:
        loop, variable = self._comprehension_parts(node)
        source, element = self.arrow(loop.iter), self.arrow(node.elt)
        conditions = [self.arrow(c) for c in loop.ifs]

        def comprehension(s: _Scope) -> Operand:
            inner, lists = s.comprehension(source(s), variable)
            values = full(element(inner), inner.size)
            counts = pc.fill_null(pc.list_value_length(lists), 0)
            starts = pc.cumulative_sum(pa.concat_arrays([pa.array([0], counts.type), counts]))
            if conditions:
                keep = full(conditions[0](inner), inner.size)
                for condition in conditions[1:]:
                    keep = pc.and_kleene(keep, full(condition(inner), inner.size))
                keep = pc.fill_null(keep, False)
                values = values.filter(keep)
                kept = pc.cumulative_sum(pa.concat_arrays([pa.array([0], pa.int64()), keep.cast(pa.int64())]))
                starts = pc.take(kept, starts)
            offsets = starts.cast(pa.int32())
            return pa.ListArray.from_arrays(offsets, values, mask=lists.is_null())

        return comprehension


def _test(
    op: ast.cmpop, comparator: ast.expr, literal: Callable[[ast.AST], object]
) -> Callable[[Operand, Operand], Operand]:
    """The Arrow form of ``x in [...]``, ``x not in [...]``, ``x is None``, ``x is not None``."""
    if isinstance(op, ast.Is):
        return lambda a, _: pc.is_null(a)
    if isinstance(op, ast.IsNot):
        return lambda a, _: pc.is_valid(a)
    values = pa.array([literal(e) for e in comparator.elts])

    def member(a: Operand, _: object) -> Operand:
        found = pc.is_in(a, value_set=values)
        found = pc.invert(found) if isinstance(op, ast.NotIn) else found
        return pc.if_else(pc.is_null(a), pa.scalar(None, pa.bool_()), found)  # null in, null out

    return member


def _is_negative(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
    )


def _null_safe(fn: Callable[[object, object], object]) -> Callable[[object, object], object]:
    """``fn`` with SQL nulls: None when an operand is None, the types do not compare, or ``x / 0``."""

    def safe(a: object, b: object) -> object:
        if a is None or b is None:
            return None
        try:
            return fn(a, b)
        except (TypeError, ZeroDivisionError):
            return None

    return safe


def _all_of(parts: list[RowFn]) -> RowFn:
    """Kleene AND, stopping at the first false operand."""

    def all_of(r: dict) -> object:
        outcome: object = True
        for part in parts:
            value = part(r)
            if value is None:
                outcome = None
            elif not value:
                return False
        return outcome

    return all_of


def _any_of(parts: list[RowFn]) -> RowFn:
    """Kleene OR, stopping at the first true operand."""

    def any_of(r: dict) -> object:
        outcome: object = False
        for part in parts:
            value = part(r)
            if value is None:
                outcome = None
            elif value:
                return True
        return outcome

    return any_of


def _column_and_constant(node: ast.Compare) -> tuple[str | None, object]:
    """(column, constant) when ``node`` is ``column OP constant``, else (None, None)."""
    if isinstance(node.left, ast.Name) and isinstance(node.comparators[0], ast.Constant):
        return node.left.id, node.comparators[0].value
    return None, None


def _check_size(tree: ast.AST, shown: str, what: str) -> None:
    """ValueError when ``tree`` has more nodes or levels than the bounds (walked without recursion)."""
    nodes, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_EXPRESSION_NODES:
            raise ValueError(
                f"{what} {shown!r} is too big: more than {MAX_EXPRESSION_NODES} terms "
                "(for many values use `column in [...]`, or a function)"
            )
        if depth > MAX_EXPRESSION_DEPTH:
            raise ValueError(
                f"{what} {shown!r} is nested too deeply: more than {MAX_EXPRESSION_DEPTH} levels"
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


class Expression:
    """One checked expression: :meth:`row` on a dict, :meth:`arrow` on a batch, the columns it reads.

    ``what`` names it in errors (``"filter expression"``). ValueError when the text is not in
    the grammar, naming the text and why.

    >>> e = Expression("len(name) * 2")
    >>> e.row({"name": "añb"}), e.arrow(pa.RecordBatch.from_pydict({"name": ["añb", None]})).to_pylist()
    (6, [6, None])
    >>> sorted(e.columns), str(e.pushdown)
    (['name'], 'multiply_checked(utf8_length(name), 2)')
    """

    def __init__(self, text: str, what: str = "expression") -> None:
        if not isinstance(text, str):
            raise TypeError(f"a {what} is a string, got {type(text).__name__}")
        self.text = text
        self.what = what
        shown = text if len(text) <= 200 else f"{text[:200]}... ({len(text)} characters)"
        if len(text) > MAX_EXPRESSION_CHARS:
            raise ValueError(
                f"{what} {shown!r} is too long: {len(text)} characters, at most "
                f"{MAX_EXPRESSION_CHARS} (for many values use `column in [...]`, or a function)"
            )
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise ValueError(f"{what} {shown!r} is not valid: {exc.msg}") from None
        except (MemoryError, RecursionError):  # the parser's own nesting limit
            raise ValueError(
                f"{what} {shown!r} is nested too deeply (at most {MAX_EXPRESSION_DEPTH} levels)"
            ) from None
        _check_size(tree, shown, what)
        compiler = _Compiler(text, what)
        self.row: RowFn = compiler.row(tree)
        self._arrow = compiler.arrow(tree)
        self.columns: frozenset[str] = frozenset(compiler.columns)
        try:
            self.pushdown: pc.Expression | None = self._arrow(_Scope())
        except _NotAnArrowExpression:
            self.pushdown = None  # needs the data (a list item, a comprehension): evaluated on batches only

    def arrow(self, batch: pa.RecordBatch) -> pa.Array:
        """The expression's value for every row of ``batch`` (an array of its length); a
        ValueError naming the expression and its columns' types when they do not fit it."""
        try:
            return full(self._arrow(_Arrays(batch.column, batch.num_rows)), batch.num_rows)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            schema = batch.schema
            types = ", ".join(
                f"{c}: {schema.field(c).type}" for c in sorted(self.columns) if c in schema.names
            )
            raise ValueError(
                f"{self.what} {self.text!r} cannot be computed on columns ({types}): {exc}"
            ) from exc

    def __reduce__(self) -> tuple:
        return Expression, (self.text, self.what)


class ExpressionFilter(Stage):
    """Keep rows where a safe column expression is true; vectorised when the batch is Arrow.

    Declarative: it reads only the columns it names, and a reader may apply its Arrow expression
    itself (Parquet: row groups whose statistics rule it out are never read).

    >>> f = ExpressionFilter("score > 0.5 and n is not None")
    >>> sorted(f.input_columns(frozenset({"id"}))), f.input_columns(None), str(f.pushdown_predicate())
    (['id', 'n', 'score'], None, '((score > 0.5) and is_valid(n))')
    """

    declarative = True

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._compiled = Expression(expression, "filter expression")
        self.columns = self._compiled.columns

    def column_check(self) -> ColumnCheck:
        """The columns the expression names must exist (the rule: ``transforms/columns.py``)."""
        return ColumnCheck(f"filter expression {self.expression!r}", sorted(self.columns))

    def input_columns(self, needed_after: frozenset[str] | None) -> frozenset[str] | None:
        return None if needed_after is None else needed_after | self.columns

    def pushdown_predicate(self) -> pc.Expression | None:
        return self._compiled.pushdown

    def __getstate__(self) -> dict:
        return {"expression": self.expression}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["expression"])

    def process(self, batch: Batch) -> Batch | None:
        if batch.has_arrow:
            arrow = batch.arrow
            keep = self._compiled.arrow(arrow)
            if not (pa.types.is_boolean(keep.type) or pa.types.is_null(keep.type)):
                raise ValueError(
                    f"filter expression {self.expression!r} gives {keep.type} values, not true/false"
                )
            if keep.null_count == 0 and pc.all(keep).as_py() is not False:
                return batch
            kept = arrow.filter(keep)
            return Batch.from_arrow(kept) if kept.num_rows else None
        fn = self._compiled.row
        kept = [row for row in batch.rows if fn(row) is True]
        if len(kept) == len(batch):
            return batch
        return Batch.from_rows(kept) if kept else None
