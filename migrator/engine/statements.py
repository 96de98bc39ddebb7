"""Statement-level helpers: marker comments, removing statements a migration made empty, and
recognising shape reads."""

from __future__ import annotations

from typing import Any

import libcst as cst


def drop_absorbed(block: cst.IndentedBlock, absorbed: set[int]) -> cst.IndentedBlock:
    """Drop ``x = x`` statements left where a permute/transpose was absorbed into the layout; their
    comments move to the next statement so nothing the author wrote is lost."""
    body: list[cst.BaseStatement] = []
    carry: list[cst.EmptyLine] = []
    stmts = list(block.body)
    for i, stmt in enumerate(stmts):
        if id(stmt) in absorbed and len(stmts) == 1 and isinstance(stmt, cst.SimpleStatementLine):
            body.append(stmt.with_changes(body=[cst.Pass()]))  # the block's only statement: `pass`
            continue
        if id(stmt) in absorbed and i < len(stmts) - 1 and isinstance(stmt, cst.SimpleStatementLine):
            carry.extend(stmt.leading_lines)
            comment = stmt.trailing_whitespace.comment
            if comment is not None:
                carry.append(cst.EmptyLine(comment=comment))
            continue
        if carry and isinstance(stmt, cst.SimpleStatementLine | cst.BaseCompoundStatement):
            stmt = stmt.with_changes(leading_lines=[*carry, *stmt.leading_lines])
            carry = []
        body.append(stmt)
    return block.with_changes(body=body)


def shape_source(value: cst.BaseExpression) -> cst.BaseExpression | None:
    if isinstance(value, cst.Attribute) and value.attr.value == "shape":
        return value.value
    if (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Attribute)
        and value.func.attr.value == "size"
        and not value.args
    ):
        return value.func.value
    return None


def is_tensorish(value: cst.BaseExpression) -> bool:
    return isinstance(value, cst.Call | cst.BinaryOperation | cst.Subscript)


def with_markers(node: Any, markers: list[str]) -> Any:
    if not markers:
        return node
    existing = {line.comment.value for line in node.leading_lines if line.comment is not None}
    new_lines = list(node.leading_lines)
    for text in dict.fromkeys(markers):
        if text not in existing:
            new_lines.append(cst.EmptyLine(comment=cst.Comment(text)))
    return node.with_changes(leading_lines=new_lines)
