//! Expression construction with the Java construction-time checks (`createEqual`,
//! `checkLessThanOperand`, `createBetween`, `asBooleanExpression`, literal conversion).

use super::ast::{CmpOp, Expr, Lit, StrOp};
use super::value::{java_compare, Value};
use super::{SqlParseError, MAX_DEPTH};

/// An expression with the depth of its tree (kept bounded so evaluation and drop cannot overflow).
pub(crate) struct N {
    pub(crate) e: Expr,
    pub(crate) d: usize,
}

pub(crate) type PResult<T> = Result<T, SqlParseError>;

pub(crate) fn err<T>(pos: usize, msg: impl Into<String>) -> PResult<T> {
    Err(SqlParseError::at(pos, msg))
}

pub(crate) fn leaf(e: Expr) -> N {
    N { e, d: 1 }
}

pub(crate) fn node(pos: usize, e: Expr, child_depth: usize) -> PResult<N> {
    let d = child_depth + 1;
    if d > MAX_DEPTH {
        return err(
            pos,
            format!("expression nested deeper than {MAX_DEPTH} levels"),
        );
    }
    Ok(N { e, d })
}

pub(crate) fn str_op(word: &str) -> Option<StrOp> {
    [
        ("CONTAINS", StrOp::Contains),
        ("STARTSWITH", StrOp::StartsWith),
        ("ENDSWITH", StrOp::EndsWith),
    ]
    .into_iter()
    .find(|(k, _)| k.eq_ignore_ascii_case(word))
    .map(|(_, op)| op)
}

pub(crate) fn lit_value(l: &Lit) -> Value<'_> {
    match l {
        Lit::Null => Value::Null,
        Lit::Bool(b) => Value::Bool(*b),
        Lit::Int(i) => Value::Int(*i),
        Lit::Long(i) => Value::Long(*i),
        Lit::Double(d) => Value::Double(*d),
        Lit::Str(s) => Value::Str(s.as_str().into()),
    }
}

/// Java `asBooleanExpression`.
pub(crate) fn as_boolean(pos: usize, n: N) -> PResult<N> {
    if n.e.is_boolean() {
        return Ok(n);
    }
    if matches!(n.e, Expr::Prop(_)) {
        let d = n.d;
        return node(pos, Expr::BoolCast(Box::new(n.e)), d);
    }
    err(pos, "expression will not result in a boolean value")
}

/// Java `checkLessThanOperand`: only numeric constants, properties and negations may be ordered.
pub(crate) fn check_orderable(pos: usize, n: &N) -> PResult<()> {
    match &n.e {
        Expr::Const(Lit::Int(_) | Lit::Long(_) | Lit::Double(_)) => Ok(()),
        Expr::Const(_) => err(
            pos,
            "a string, boolean or NULL literal cannot be compared with >, >=, <, <=",
        ),
        e if e.is_boolean() => err(
            pos,
            "a boolean expression cannot be compared with >, >=, <, <=",
        ),
        _ => Ok(()),
    }
}

pub(crate) fn cmp(pos: usize, op: CmpOp, l: N, r: N) -> PResult<N> {
    check_orderable(pos, &l)?;
    check_orderable(pos, &r)?;
    let d = l.d.max(r.d);
    node(pos, Expr::Cmp(op, Box::new(l.e), Box::new(r.e)), d)
}

/// Java `createEqual`: NULL literals are rejected, and a boolean literal may not be compared with a
/// non-boolean literal.
pub(crate) fn equal(pos: usize, l: N, r: N) -> PResult<N> {
    for n in [&l, &r] {
        if n.e == Expr::Const(Lit::Null) {
            return err(pos, "NULL cannot be compared with = or <> (use IS NULL)");
        }
    }
    if let (Expr::Const(_), Expr::Const(_)) = (&l.e, &r.e) {
        if l.e.is_boolean() && !r.e.is_boolean() {
            return err(
                pos,
                "a boolean literal cannot be compared with a non-boolean literal",
            );
        }
    }
    let d = l.d.max(r.d);
    node(pos, Expr::Eq(Box::new(l.e), Box::new(r.e)), d)
}

pub(crate) fn not(pos: usize, n: N) -> PResult<N> {
    let d = n.d;
    node(pos, Expr::Not(Box::new(n.e)), d)
}

/// AND / OR: flatten into one n-ary node.
pub(crate) fn logic(pos: usize, is_or: bool, l: N, r: N) -> PResult<N> {
    let flat = |e: &Expr| matches!((e, is_or), (Expr::Or(_), true) | (Expr::And(_), false));
    // A flattened child contributes its items, one level below its own node.
    let depth_of = |n: &N| if flat(&n.e) { n.d - 1 } else { n.d };
    let d = depth_of(&l).max(depth_of(&r));
    let mut items = Vec::new();
    for e in [l.e, r.e] {
        match e {
            Expr::Or(v) if is_or => items.extend(v),
            Expr::And(v) if !is_or => items.extend(v),
            e => items.push(e),
        }
    }
    node(
        pos,
        if is_or {
            Expr::Or(items)
        } else {
            Expr::And(items)
        },
        d,
    )
}

/// Java `createBetween`: constant bounds must be non-null and ordered low <= high.
pub(crate) fn between(pos: usize, v: N, low: N, high: N) -> PResult<N> {
    if let (Expr::Const(lo), Expr::Const(hi)) = (&low.e, &high.e) {
        if *lo == Lit::Null || *hi == Lit::Null {
            return err(pos, "BETWEEN bounds cannot be NULL");
        }
        match java_compare(&lit_value(hi), &lit_value(lo)) {
            Ok(c) if c >= 0 => {}
            _ => {
                return err(
                    pos,
                    "BETWEEN low bound must be less than or equal to the high bound",
                )
            }
        }
    }
    let v2 = N {
        e: v.e.clone(),
        d: v.d,
    };
    let ge = cmp(pos, CmpOp::Ge, v, low)?;
    let le = cmp(pos, CmpOp::Le, v2, high)?;
    logic(pos, false, ge, le)
}

pub(crate) fn not_between(pos: usize, v: N, low: N, high: N) -> PResult<N> {
    let v2 = N {
        e: v.e.clone(),
        d: v.d,
    };
    let lt = cmp(pos, CmpOp::Lt, v, low)?;
    let gt = cmp(pos, CmpOp::Gt, v2, high)?;
    logic(pos, true, lt, gt)
}

/// Java `createFromDecimal`: strip `L`, parse as long, narrow to int when it fits.
pub(crate) fn decimal(pos: usize, s: &str) -> PResult<Lit> {
    let digits = s.trim_end_matches(['l', 'L']);
    let Ok(v) = digits.parse::<i64>() else {
        return err(
            pos,
            format!("integer literal {s} is out of the 64-bit range"),
        );
    };
    Ok(i32::try_from(v).map_or(Lit::Long(v), Lit::Int))
}

/// Java `createFloat`: must be finite and at least `Double.MIN_VALUE` (so `0.0` is rejected).
pub(crate) fn float(pos: usize, s: &str) -> PResult<Lit> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Lit::Double(v)),
        Ok(v) if v.is_finite() => err(
            pos,
            format!("decimal literal {s} is less than Double.MIN_VALUE (Java rejects it)"),
        ),
        _ => err(pos, format!("decimal literal {s} is out of range")),
    }
}
