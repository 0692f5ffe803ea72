"""Safe column expressions for filters: ``score > 0.5 and difficulty >= 3``.

The text is parsed with :mod:`ast` and only a small grammar is accepted (column names,
literals, comparisons, ``in``/``not in`` a literal list, ``and``/``or``/``not``, ``+ - * / %``,
``len(column)``, ``is None``/``is not None``). Nothing is ever evaluated with ``eval``. A
null operand makes a comparison null, and a filter keeps only rows where the expression is
true (SQL semantics), on rows and on Arrow alike. A column the data does not have is a
:class:`~crucible_datasets.errors.ColumnNotFoundError` (when: see ``transforms/columns.py``),
never a filter that silently keeps nothing.

An expression is bounded before it is compiled: at most :data:`MAX_EXPRESSION_CHARS`
characters, :data:`MAX_EXPRESSION_NODES` syntax nodes and :data:`MAX_EXPRESSION_DEPTH` levels
of nesting (a bigger one is a ValueError saying so, never a crash of the interpreter); use
``x in [...]`` for a long list of values.

>>> from crucible_datasets.batch import Batch
>>> f = ExpressionFilter("score > 0.5 and difficulty >= 3")
>>> f.process(Batch.from_rows([{"score": 0.9, "difficulty": 4}, {"score": None, "difficulty": 9}])).rows
[{'score': 0.9, 'difficulty': 4}]
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
    ast.Add: (operator.add, "add"),
    ast.Sub: (operator.sub, "subtract"),
    ast.Mult: (operator.mul, "multiply"),
    ast.Div: (operator.truediv, "divide"),
    ast.Mod: (operator.mod, None),
}

RowFn = Callable[[dict], object]

MAX_EXPRESSION_CHARS = 100_000
MAX_EXPRESSION_NODES = 10_000  # literal items of an ``in [...]`` list count too
MAX_EXPRESSION_DEPTH = 64


class _Compiler:
    """Turns the checked AST into a row function and a pyarrow compute expression."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.columns: set[str] = set()

    def fail(self, why: str) -> ValueError:
        return ValueError(f"filter expression {self.text!r}: {why}")

    def row(self, node: ast.AST) -> RowFn:  # noqa: C901 - one branch per grammar rule
        if isinstance(node, ast.Expression):
            return self.row(node.body)
        if isinstance(node, ast.Name):
            name = node.id
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

    def _compare_row(self, node: ast.Compare) -> RowFn:
        left = self.row(node.left)
        steps = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.row(comparator)
            if isinstance(op, ast.In | ast.NotIn):
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
            if name is not None:  # the common case, `column OP constant`: one dict lookup, one call
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

    def arrow(self, node: ast.AST) -> pc.Expression:  # noqa: C901 - one branch per grammar rule
        if isinstance(node, ast.Expression):
            return self.arrow(node.body)
        if isinstance(node, ast.Name):
            return pc.field(node.id)
        if isinstance(node, ast.Constant):
            return pc.scalar(node.value)
        if isinstance(node, ast.BoolOp):
            parts = [self.arrow(v) for v in node.values]
            out = parts[0]
            for p in parts[1:]:
                out = (out & p) if isinstance(node.op, ast.And) else (out | p)
            return out
        if isinstance(node, ast.UnaryOp):
            inner = self.arrow(node.operand)
            return ~inner if isinstance(node.op, ast.Not) else pc.negate(inner)
        if isinstance(node, ast.BinOp):
            name = _ARITH[type(node.op)][1]
            if name is None:
                raise self.fail("% is not supported on Arrow data")
            return getattr(pc, name)(self.arrow(node.left), self.arrow(node.right))
        if isinstance(node, ast.Call):
            return pc.utf8_length(self.arrow(node.args[0]))
        if isinstance(node, ast.Compare):
            left = self.arrow(node.left)
            out = None
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn):
                    values = pa.array([self._literal(e) for e in comparator.elts])
                    step = left.isin(values)
                    step = ~step if isinstance(op, ast.NotIn) else step
                    right = None
                elif isinstance(op, ast.Is | ast.IsNot):
                    step = left.is_null() if isinstance(op, ast.Is) else left.is_valid()
                    right = None
                else:
                    right = self.arrow(comparator)
                    step = getattr(pc, _COMPARE[type(op)][1])(left, right)
                out = step if out is None else out & step
                left = right
            return out
        raise self.fail(f"{type(node).__name__} is not allowed")


def _null_safe(fn: Callable[[object, object], object]) -> Callable[[object, object], object]:
    """``fn`` with SQL nulls: None when an operand is None or the types do not compare."""

    def safe(a: object, b: object) -> object:
        if a is None or b is None:
            return None
        try:
            return fn(a, b)
        except TypeError:
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


def _check_size(tree: ast.AST, shown: str) -> None:
    """ValueError when ``tree`` has more nodes or levels than the bounds (walked without recursion)."""
    nodes, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_EXPRESSION_NODES:
            raise ValueError(
                f"filter expression {shown!r} is too big: more than {MAX_EXPRESSION_NODES} terms "
                "(for many values use `column in [...]`, or a filter function)"
            )
        if depth > MAX_EXPRESSION_DEPTH:
            raise ValueError(
                f"filter expression {shown!r} is nested too deeply: more than {MAX_EXPRESSION_DEPTH} levels"
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def compile_expression(text: str) -> tuple[RowFn, pc.Expression, set[str]]:
    """Check ``text`` and return (row predicate, Arrow expression, column names used)."""
    if not isinstance(text, str):
        raise TypeError(f"a filter expression is a string, got {type(text).__name__}")
    shown = text if len(text) <= 200 else f"{text[:200]}... ({len(text)} characters)"
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ValueError(
            f"filter expression {shown!r} is too long: {len(text)} characters, at most "
            f"{MAX_EXPRESSION_CHARS} (for many values use `column in [...]`, or a filter function)"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"filter expression {shown!r} is not valid: {exc.msg}") from None
    except (MemoryError, RecursionError):  # the parser's own nesting limit
        raise ValueError(
            f"filter expression {shown!r} is nested too deeply (at most {MAX_EXPRESSION_DEPTH} levels)"
        ) from None
    _check_size(tree, shown)
    compiler = _Compiler(text)
    row_fn = compiler.row(tree)
    return row_fn, compiler.arrow(tree), compiler.columns


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
        self._row_fn, self._arrow_expr, self.columns = compile_expression(expression)

    def column_check(self) -> ColumnCheck:
        """The columns the expression names must exist (the rule: ``transforms/columns.py``)."""
        return ColumnCheck(f"filter expression {self.expression!r}", sorted(self.columns))

    def input_columns(self, needed_after: frozenset[str] | None) -> frozenset[str] | None:
        return None if needed_after is None else needed_after | self.columns

    def pushdown_predicate(self) -> pc.Expression:
        return self._arrow_expr

    def __getstate__(self) -> dict:
        return {"expression": self.expression}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["expression"])

    def process(self, batch: Batch) -> Batch | None:
        if batch.has_arrow:
            table = pa.Table.from_batches([batch.arrow]).filter(self._arrow_expr)
            return Batch.from_arrow(table) if table.num_rows else None
        fn = self._row_fn
        kept = [row for row in batch.rows if fn(row) is True]
        if len(kept) == len(batch):
            return batch
        return Batch.from_rows(kept) if kept else None
