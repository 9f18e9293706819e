//! Recursive-descent parser following the Java 4.9.7 `SelectorParser` grammar production by
//! production (plus the 5.x `CONTAINS` / `STARTSWITH` / `ENDSWITH` operators), including its
//! construction-time checks (`checkLessThanOperand`, `checkEqualOperand`, BETWEEN bounds, IN on a
//! property, boolean-valued operands of AND/OR/NOT).

use std::collections::VecDeque;

use super::ast::{CmpOp, Expr, Lit, StrOp};
use super::build::{
    as_boolean, between, cmp, decimal, equal, err, float, leaf, logic, node, not, not_between,
    str_op, PResult, N,
};
use super::lexer::{Lexer, Tok};
use super::MAX_NESTING;

pub(crate) struct Parser<'a> {
    lexer: Lexer<'a>,
    ahead: VecDeque<(Tok<'a>, usize)>,
    nesting: usize,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Parser {
            lexer: Lexer::new(src),
            ahead: VecDeque::new(),
            nesting: 0,
        }
    }

    /// The `n`th token ahead (lexed on demand).
    fn peek(&mut self, n: usize) -> PResult<&(Tok<'a>, usize)> {
        while self.ahead.len() <= n {
            let t = self.lexer.next_token()?;
            self.ahead.push_back(t);
        }
        Ok(&self.ahead[n])
    }

    fn tok(&mut self, n: usize) -> PResult<Tok<'a>> {
        Ok(self.peek(n)?.0.clone())
    }

    fn pos(&mut self) -> PResult<usize> {
        Ok(self.peek(0)?.1)
    }

    fn bump(&mut self) -> PResult<(Tok<'a>, usize)> {
        self.peek(0)?;
        Ok(self.ahead.pop_front().expect("peeked"))
    }

    fn unexpected<T>(&mut self, wanted: &str) -> PResult<T> {
        let (t, p) = self.peek(0)?.clone();
        err(p, format!("expected {wanted}, found {}", t.describe()))
    }

    fn expect(&mut self, t: Tok<'static>, wanted: &str) -> PResult<()> {
        if self.tok(0)? == t {
            self.bump()?;
            Ok(())
        } else {
            self.unexpected(wanted)
        }
    }

    /// The whole selector: an OR expression that must be boolean. Like Java, stops after one
    /// complete expression; see [`Parser::at_end`].
    pub(crate) fn selector(&mut self) -> PResult<Expr> {
        let pos = self.pos()?;
        let n = self.or_expr()?;
        Ok(as_boolean(pos, n)?.e)
    }

    /// Whether only end of input is left.
    pub(crate) fn at_end(&mut self) -> PResult<Option<(String, usize)>> {
        let (t, p) = self.peek(0)?.clone();
        // A `--` comment with no line break after it lexes as `-` tokens (Java); accept it here.
        let trailing_comment = t == Tok::Minus && self.lexer.source()[p..].starts_with("--");
        Ok((t != Tok::Eof && !trailing_comment).then(|| (t.describe(), p)))
    }

    fn or_expr(&mut self) -> PResult<N> {
        let start = self.pos()?;
        let mut left = self.and_expr()?;
        while self.tok(0)? == Tok::Or {
            let (_, p) = self.bump()?;
            let rpos = self.pos()?;
            let right = self.and_expr()?;
            let l = as_boolean(start, left)?;
            let r = as_boolean(rpos, right)?;
            left = logic(p, true, l, r)?;
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> PResult<N> {
        let start = self.pos()?;
        let mut left = self.equality()?;
        while self.tok(0)? == Tok::And {
            let (_, p) = self.bump()?;
            let rpos = self.pos()?;
            let right = self.equality()?;
            let l = as_boolean(start, left)?;
            let r = as_boolean(rpos, right)?;
            left = logic(p, false, l, r)?;
        }
        Ok(left)
    }

    fn equality(&mut self) -> PResult<N> {
        let mut left = self.comparison()?;
        loop {
            let (t, p) = self.peek(0)?.clone();
            left = match t {
                Tok::Eq => {
                    self.bump()?;
                    let right = self.comparison()?;
                    equal(p, left, right)?
                }
                Tok::Ne => {
                    self.bump()?;
                    let right = self.comparison()?;
                    not(p, equal(p, left, right)?)?
                }
                Tok::Is => {
                    self.bump()?;
                    let negate = if self.tok(0)? == Tok::Null {
                        false
                    } else {
                        self.expect(Tok::Not, "NULL or NOT NULL after IS")?;
                        true
                    };
                    self.expect(Tok::Null, "NULL after IS NOT")?;
                    let d = left.d;
                    let is_null = node(
                        p,
                        Expr::Eq(Box::new(left.e), Box::new(Expr::Const(Lit::Null))),
                        d,
                    )?;
                    if negate {
                        not(p, is_null)?
                    } else {
                        is_null
                    }
                }
                _ => return Ok(left),
            };
        }
    }

    fn comparison(&mut self) -> PResult<N> {
        let mut left = self.unary()?;
        loop {
            let (t, p) = self.peek(0)?.clone();
            left = match t {
                Tok::Gt | Tok::Ge | Tok::Lt | Tok::Le => {
                    self.bump()?;
                    let op = match t {
                        Tok::Gt => CmpOp::Gt,
                        Tok::Ge => CmpOp::Ge,
                        Tok::Lt => CmpOp::Lt,
                        _ => CmpOp::Le,
                    };
                    let right = self.unary()?;
                    cmp(p, op, left, right)?
                }
                Tok::Between => {
                    self.bump()?;
                    self.between_tail(p, left, false)?
                }
                Tok::In => {
                    self.bump()?;
                    self.in_tail(p, left, false)?
                }
                Tok::Id(w) if str_op(w).is_some() => {
                    self.bump()?;
                    self.str_op_tail(p, left, str_op(w).expect("checked"), false)?
                }
                Tok::Not => match self.tok(1)? {
                    Tok::Between => {
                        self.bump()?;
                        self.bump()?;
                        self.between_tail(p, left, true)?
                    }
                    Tok::In => {
                        self.bump()?;
                        self.bump()?;
                        self.in_tail(p, left, true)?
                    }
                    Tok::Id(w) if str_op(w).is_some() => {
                        self.bump()?;
                        self.bump()?;
                        self.str_op_tail(p, left, str_op(w).expect("checked"), true)?
                    }
                    other => {
                        let p1 = self.peek(1)?.1;
                        let msg = format!(
                            "expected BETWEEN, IN, CONTAINS, STARTSWITH or ENDSWITH after NOT, found {}",
                            other.describe()
                        );
                        return err(p1, msg);
                    }
                },
                _ => return Ok(left),
            };
        }
    }

    fn between_tail(&mut self, p: usize, left: N, negate: bool) -> PResult<N> {
        let low = self.unary()?;
        self.expect(Tok::And, "AND in BETWEEN")?;
        let high = self.unary()?;
        if negate {
            not_between(p, left, low, high)
        } else {
            between(p, left, low, high)
        }
    }

    fn string_literal(&mut self) -> PResult<String> {
        match self.tok(0)? {
            Tok::Str(s) => {
                self.bump()?;
                Ok(s)
            }
            _ => self.unexpected("a string literal"),
        }
    }

    fn in_tail(&mut self, p: usize, left: N, negate: bool) -> PResult<N> {
        self.expect(Tok::LParen, "'(' after IN")?;
        let mut list = vec![self.string_literal()?];
        while self.tok(0)? == Tok::Comma {
            self.bump()?;
            list.push(self.string_literal()?);
        }
        self.expect(Tok::RParen, "',' or ')' in IN list")?;
        let Expr::Prop(prop) = left.e else {
            return err(p, "IN needs a property on its left");
        };
        node(
            p,
            Expr::In {
                prop,
                list,
                not: negate,
            },
            1,
        )
    }

    fn str_op_tail(&mut self, p: usize, left: N, op: StrOp, negate: bool) -> PResult<N> {
        let pattern = self.string_literal()?;
        let d = left.d;
        node(
            p,
            Expr::Str {
                op,
                expr: Box::new(left.e),
                pattern,
                not: negate,
            },
            d,
        )
    }

    fn unary(&mut self) -> PResult<N> {
        let p = self.pos()?;
        if self.nesting >= MAX_NESTING {
            return err(
                p,
                format!("expression nested deeper than {MAX_NESTING} levels"),
            );
        }
        self.nesting += 1;
        let r = self.unary_inner(p);
        self.nesting -= 1;
        r
    }

    fn unary_inner(&mut self, p: usize) -> PResult<N> {
        match self.tok(0)? {
            Tok::Plus => {
                self.bump()?;
                self.unary()
            }
            Tok::Minus => {
                self.bump()?;
                let n = self.unary()?;
                let d = n.d;
                node(p, Expr::Neg(Box::new(n.e)), d)
            }
            Tok::Not => {
                self.bump()?;
                let operand = self.pos()?;
                let n = self.unary()?;
                not(p, as_boolean(operand, n)?)
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> PResult<N> {
        let (t, p) = self.peek(0)?.clone();
        let lit = match t {
            Tok::Str(s) => Lit::Str(s),
            Tok::Decimal(s) => decimal(p, s)?,
            Tok::Float(s) => float(p, s)?,
            Tok::True => Lit::Bool(true),
            Tok::False => Lit::Bool(false),
            Tok::Null => Lit::Null,
            Tok::Id(name) => {
                self.bump()?;
                return Ok(leaf(Expr::Prop(name.to_string())));
            }
            Tok::LParen => {
                self.bump()?;
                let n = self.or_expr()?;
                self.expect(Tok::RParen, "')'")?;
                return Ok(n);
            }
            _ => return self.unexpected("a literal, a property name or '('"),
        };
        self.bump()?;
        Ok(leaf(Expr::Const(lit)))
    }
}
