//! The compiled expression and its evaluation, mirroring the Java expression classes
//! (`LogicExpression`, `ComparisonExpression`, `UnaryExpression`, ...). Evaluation returns
//! `Ok(Null)` for SQL unknown and `Err` where Java throws; both end up as "not matched".

use std::borrow::Cow;

use super::value::{java_compare, java_equals, java_parse_double, EvalError, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrOp {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Const(Lit),
    Prop(String),
    /// Unary minus: numbers are negated, anything else gives null.
    Neg(Box<Expr>),
    Not(Box<Expr>),
    /// A bare property used as a boolean: null when absent, FALSE when present (values are strings).
    BoolCast(Box<Expr>),
    /// n-ary AND/OR, evaluated left to right with short-circuit (same results as Java's left-nested
    /// binary nodes).
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// Java `doCreateEqual` (also used for `IS NULL` with a NULL right side).
    Eq(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    In {
        prop: String,
        list: Vec<String>,
        not: bool,
    },
    Str {
        op: StrOp,
        expr: Box<Expr>,
        pattern: String,
        not: bool,
    },
}

impl Expr {
    /// Java `instanceof BooleanExpression`.
    pub(crate) fn is_boolean(&self) -> bool {
        match self {
            Expr::Const(l) => matches!(l, Lit::Bool(_) | Lit::Null),
            Expr::Prop(_) | Expr::Neg(_) => false,
            _ => true,
        }
    }
}

type Eval<'a> = Result<Value<'a>, EvalError>;

fn lit(l: &Lit) -> Value<'_> {
    match l {
        Lit::Null => Value::Null,
        Lit::Bool(b) => Value::Bool(*b),
        Lit::Int(i) => Value::Int(*i),
        Lit::Long(i) => Value::Long(*i),
        Lit::Double(d) => Value::Double(*d),
        Lit::Str(s) => Value::Str(Cow::Borrowed(s)),
    }
}

/// Logic operands are always boolean expressions; anything else would be a Java ClassCastException.
fn as_bool(v: Value) -> Result<Option<bool>, EvalError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        _ => Err(EvalError),
    }
}

fn tri(b: Option<bool>) -> Value<'static> {
    b.map_or(Value::Null, Value::Bool)
}

pub(crate) fn eval<'a>(e: &'a Expr, get: &dyn Fn(&str) -> Option<String>) -> Eval<'a> {
    match e {
        Expr::Const(l) => Ok(lit(l)),
        Expr::Prop(name) => Ok(get(name).map_or(Value::Null, |s| Value::Str(Cow::Owned(s)))),
        Expr::Neg(x) => Ok(match eval(x, get)? {
            Value::Int(i) => Value::Int(i.wrapping_neg()),
            Value::Long(i) => Value::Long(i.wrapping_neg()),
            Value::Double(d) => Value::Double(-d),
            _ => Value::Null,
        }),
        Expr::Not(x) => Ok(tri(as_bool(eval(x, get)?)?.map(|b| !b))),
        Expr::BoolCast(x) => Ok(match eval(x, get)? {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            _ => Value::Bool(false),
        }),
        Expr::And(xs) => logic(xs, get, false),
        Expr::Or(xs) => logic(xs, get, true),
        Expr::Eq(l, r) => {
            let lv = eval(l, get)?;
            let rv = eval(r, get)?;
            Ok(match (&lv, &rv) {
                (Value::Null, Value::Null) => Value::Bool(true),
                (Value::Null, _) => Value::Null,
                (_, Value::Null) => Value::Bool(false),
                _ if java_equals(&lv, &rv) => Value::Bool(true),
                _ => Value::Bool(java_compare(&lv, &rv)? == 0),
            })
        }
        Expr::Cmp(op, l, r) => {
            let lv = eval(l, get)?;
            if lv == Value::Null {
                return Ok(Value::Null);
            }
            let rv = eval(r, get)?;
            if rv == Value::Null {
                return Ok(Value::Null);
            }
            let c = match (&lv, &rv) {
                (Value::Str(a), Value::Str(b)) => java_compare(
                    &Value::Double(java_parse_double(a)?),
                    &Value::Double(java_parse_double(b)?),
                )?,
                _ => java_compare(&lv, &rv)?,
            };
            Ok(Value::Bool(match op {
                CmpOp::Gt => c > 0,
                CmpOp::Ge => c >= 0,
                CmpOp::Lt => c < 0,
                CmpOp::Le => c <= 0,
            }))
        }
        Expr::In { prop, list, not } => Ok(match get(prop) {
            None => Value::Null,
            Some(v) => Value::Bool(list.contains(&v) ^ not),
        }),
        Expr::Str {
            op,
            expr,
            pattern,
            not,
        } => {
            if pattern.is_empty() {
                return Ok(Value::Bool(false));
            }
            Ok(match eval(expr, get)? {
                Value::Str(s) => {
                    let hit = match op {
                        StrOp::Contains => s.contains(pattern.as_str()),
                        StrOp::StartsWith => s.starts_with(pattern.as_str()),
                        StrOp::EndsWith => s.ends_with(pattern.as_str()),
                    };
                    Value::Bool(hit ^ not)
                }
                _ => Value::Bool(false),
            })
        }
    }
}

/// AND (`short_on = false`) / OR (`short_on = true`) with Java's three-valued logic.
fn logic<'a>(xs: &'a [Expr], get: &dyn Fn(&str) -> Option<String>, short_on: bool) -> Eval<'a> {
    let mut unknown = false;
    for x in xs {
        match as_bool(eval(x, get)?)? {
            Some(b) if b == short_on => return Ok(Value::Bool(short_on)),
            Some(_) => {}
            None => unknown = true,
        }
    }
    Ok(if unknown {
        Value::Null
    } else {
        Value::Bool(!short_on)
    })
}
