use std::collections::HashMap;

use proptest::prelude::*;

use super::value::{java_compare, java_parse_double, Value};
use super::*;

fn props(spec: &[(&str, &str)]) -> HashMap<String, String> {
    spec.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn eval_with(expr: &str, spec: &[(&str, &str)]) -> bool {
    let f = SqlFilter::compile(expr)
        .unwrap_or_else(|e| panic!("{:?} should compile: {e}", &expr[..expr.len().min(60)]));
    let map = props(spec);
    f.matches(&|k: &str| map.get(k).cloned())
}

type Row = (&'static str, &'static [(&'static str, &'static str)], bool);

/// (expression, properties, expected match)
#[rustfmt::skip]
const TABLE: &[Row] = &[
    // string equality
    ("a = 'x'", &[("a", "x")], true),
    ("a = 'x'", &[("a", "y")], false),
    ("a = 'x'", &[], false),
    ("a <> 'x'", &[("a", "y")], true),
    ("a <> 'x'", &[("a", "x")], false),
    ("a <> 'x'", &[], false),
    ("A = 'x'", &[("a", "x")], false),
    ("A = 'x'", &[("A", "x")], true),
    ("$a_1 = 'x'", &[("$a_1", "x")], true),
    ("TAGS = 'TagA'", &[("TAGS", "TagA")], true),
    ("'1' = 1", &[], true),
    // numeric conversion of properties
    ("a = 1", &[("a", "1")], true),
    ("a = 1", &[("a", "+1")], true),
    ("a = 1", &[("a", "1.0")], false),
    ("a = 1", &[("a", "x")], false),
    ("a = 1", &[("a", " 1")], false),
    ("a = 1.0", &[("a", "1")], true),
    ("a = 1.5", &[("a", " 1.5 ")], true),
    ("a = 1.5", &[("a", "1.5f")], true),
    ("1 = 1.0", &[], true),
    ("a > 5", &[("a", "10")], true),
    ("a > 5", &[("a", "3")], false),
    ("a > 5", &[("a", "10.5")], false),
    ("a > 5.0", &[("a", "10.5")], true),
    ("a > 5", &[("a", "3000000000")], false),
    ("a > 3000000000", &[("a", "3000000001")], true),
    ("a > 5L", &[("a", "6")], true),
    ("a >= 5", &[("a", "5")], true),
    ("a < 5", &[("a", "-3")], true),
    ("a <= 5", &[("a", "5")], true),
    ("a<=5", &[("a", "6")], false),
    ("a > -5", &[("a", "-4")], true),
    ("a = - -5", &[("a", "5")], true),
    ("-a = -5", &[("a", "5")], false),
    ("a > 1.5E1", &[("a", "16")], true),
    ("a > .5", &[("a", "0.6")], true),
    ("a > 5.", &[("a", "5.1")], true),
    ("a > 1.5", &[("a", "NaN")], true),
    ("a > 1", &[], false),
    ("a > b", &[("a", "2"), ("b", "10")], false),
    ("a > b", &[("a", "x"), ("b", "1")], false),
    ("a > 5 AND a < 10", &[("a", "7")], true),
    ("a >= 5 AND a <= 5.5", &[("a", "5")], true),
    // BETWEEN
    ("a BETWEEN 1 AND 10", &[("a", "5")], true),
    ("a BETWEEN 1 AND 10", &[("a", "10")], true),
    ("a BETWEEN 1 AND 10", &[("a", "11")], false),
    ("a BETWEEN -5 AND 5", &[("a", "-5")], true),
    ("a BETWEEN 1 AND 10", &[], false),
    ("a NOT BETWEEN 1 AND 10", &[("a", "11")], true),
    ("a NOT BETWEEN 1 AND 10", &[("a", "5")], false),
    ("a NOT BETWEEN 1 AND 10", &[], false),
    // IN
    ("a IN ('x', 'y')", &[("a", "y")], true),
    ("a IN ('x', 'y')", &[("a", "z")], false),
    ("a IN ('x')", &[], false),
    ("a NOT IN ('x', 'y')", &[("a", "z")], true),
    ("a NOT IN ('x', 'y')", &[("a", "x")], false),
    ("a NOT IN ('x', 'y')", &[], false),
    ("a in ('1','2','3','4','5','6')", &[("a", "6")], true),
    // IS NULL
    ("a IS NULL", &[], true),
    ("a IS NULL", &[("a", "x")], false),
    ("a IS NOT NULL", &[("a", "x")], true),
    ("a is not null", &[], false),
    ("NULL IS NULL", &[], true),
    // three-valued logic
    ("a = 'x' AND b = 'y'", &[("a", "x"), ("b", "y")], true),
    ("a = 'x' AND b = 'y'", &[("a", "x")], false),
    ("a = 'x' OR b = 'y'", &[("b", "y")], true),
    ("a = 'x' OR b = 'y'", &[], false),
    ("NOT (a = 'x' AND b = 'y')", &[("a", "z")], true),
    ("NOT (a = 'x' AND b = 'y')", &[("a", "x")], false),
    ("NOT (a = 'x' OR b = 'y')", &[("a", "z")], false),
    ("NOT (a = 'x' OR b = 'y')", &[("a", "z"), ("b", "z")], true),
    // evaluation errors abort everything, unless short-circuited away first
    ("a = 'x' OR b = 1", &[("a", "x"), ("b", "zz")], true),
    ("b = 1 OR a = 'x'", &[("a", "x"), ("b", "zz")], false),
    ("b = 1 AND a = 'x'", &[("b", "zz")], false),
    ("a = 'y' AND b > 1", &[("a", "x"), ("b", "zz")], false),
    // precedence and keyword case
    ("a = 1 OR a = 2 AND b = 3", &[("a", "1")], true),
    ("(a = 1 OR a = 2) AND b = 3", &[("a", "1")], false),
    ("a = 'x' and b = 'y' Or c = 'z'", &[("c", "z")], true),
    ("a = 'x' aNd NoT (b = 'y')", &[("a", "x"), ("b", "q")], true),
    ("NOT a = 1", &[("a", "2")], false),
    ("NOT (a = 1)", &[("a", "2")], true),
    // quotes, comments
    ("a = 'it''s'", &[("a", "it's")], true),
    ("a = ''''", &[("a", "'")], true),
    ("a = ''", &[("a", "")], true),
    ("/* c */ a = 'x' -- done\n", &[("a", "x")], true),
    ("a /* multi\nline */ = 'x'", &[("a", "x")], true),
    ("a = 'x' -- trailing without newline", &[("a", "x")], true),
    ("-- leading\r\na = 'x'", &[("a", "x")], true),
    ("a = '/* not a comment */'", &[("a", "/* not a comment */")], true),
    // boolean literals and bare properties
    ("TRUE", &[], true),
    ("FALSE", &[], false),
    ("NULL", &[], false),
    ("NOT FALSE", &[], true),
    ("a", &[("a", "true")], false),
    ("NOT a", &[("a", "x")], true),
    ("NOT a", &[], false),
    ("a = TRUE", &[("a", "TRUE")], true),
    ("a = FALSE", &[("a", "no")], true),
    ("TRUE = a", &[("a", "true")], false),
    ("a = 1 = TRUE", &[("a", "1")], true),
    ("1 = TRUE", &[], false),
    // property against property, both possibly missing
    ("a = b", &[], true),
    ("a = b", &[("a", "x")], false),
    ("a <> b", &[("a", "x")], true),
    ("a <> b", &[("b", "x")], false),
    ("a = b", &[("a", "x"), ("b", "x")], true),
    // 5.x string operators
    ("a CONTAINS 'bc'", &[("a", "abcd")], true),
    ("a NOT CONTAINS 'bc'", &[("a", "abcd")], false),
    ("a NOT CONTAINS 'bc'", &[], false),
    ("a CONTAINS ''", &[("a", "abc")], false),
    ("a STARTSWITH 'ab'", &[("a", "abc")], true),
    ("a startsWith 'bc'", &[("a", "abc")], false),
    ("a ENDSWITH 'bc'", &[("a", "abc")], true),
    ("a not endswith 'bc'", &[("a", "abd")], true),
    ("contains = 'x'", &[("contains", "x")], true),
    // Java quirk: no hex literals, "0x10" lexes as 0 then x10, and trailing tokens are ignored
    ("a = 0x10", &[("a", "0")], true),
];

#[test]
fn table() {
    assert!(TABLE.len() >= 60);
    for (expr, spec, expected) in TABLE {
        assert_eq!(eval_with(expr, spec), *expected, "{expr:?} with {spec:?}");
    }
}

#[test]
fn properties_string() {
    let f = SqlFilter::compile("a = '1' AND b = '2' AND c IS NULL AND d IS NULL").unwrap();
    assert!(f.matches_properties("a\u{1}1\u{2}b\u{1}2\u{2}c\u{1}\u{2}\u{1}x\u{2}d"));
    assert!(!f.matches_properties("a\u{1}1"));
    let g = SqlFilter::compile("k = 'v2'").unwrap();
    assert!(g.matches_properties("k\u{1}v1\u{2}k\u{1}v2"));
    assert!(g.matches_properties("x\u{1}y\u{2}k\u{1}v2\u{2}"));
    let h = SqlFilter::compile("k = 'a\u{1}b'").unwrap();
    assert!(h.matches_properties("k\u{1}a\u{1}b"));
}

/// (expression, byte position of the error)
#[rustfmt::skip]
const ERRORS: &[(&str, usize)] = &[
    ("", 0),
    ("   ", 3),
    ("(a = 1", 6),
    ("((a = 1)", 8),
    ("a = 1 AND (b = 2", 16),
    ("a =", 3),
    ("a = 1 AND", 9),
    ("a = 1 OR", 8),
    ("OR a = 1", 0),
    ("a > ", 4),
    ("a BETWEEN 1", 11),
    ("a BETWEEN 1 OR 2", 12),
    ("a IN ()", 6),
    ("a IN ('x',)", 10),
    ("a IN (1)", 6),
    ("a IN 'x'", 5),
    ("1 IN ('x')", 2),
    ("a IS 5", 5),
    ("a IS NOT 5", 9),
    ("a NOT LIKE 'x'", 6),
    ("a > 'x'", 2),
    ("'x' < a", 4),
    ("a > TRUE", 2),
    ("a > NULL", 2),
    ("a >= (b = 1)", 2),
    ("a = NULL", 2),
    ("NULL <> a", 5),
    ("TRUE = 1", 5),
    ("a BETWEEN 5 AND 1", 2),
    ("a BETWEEN 'a' AND 'b'", 2),
    ("a = 99999999999999999999", 4),
    ("a = 0.0", 4),
    ("a = 1e999", 4),
    ("a # 1", 2),
    ("a = 1 AND b ! 2", 12),
    ("a = \"x\"", 4),
    ("a = 'abc", 4),
    ("/* x", 0),
    ("a = . ", 4),
    ("'x'", 0),
    ("1 AND a = 1", 0),
    ("a = 1 AND 2", 10),
    ("NOT 'x'", 4),
    ("-a", 0),
    ("a CONTAINS 1", 11),
    ("é = 'x'", 0),
];

#[test]
fn parse_errors_name_their_position() {
    for (expr, pos) in ERRORS {
        let e = SqlFilter::compile(expr).expect_err(expr);
        assert_eq!(e.position, *pos, "{expr:?}: {e}");
        assert!(
            e.message.contains(&format!("position {pos}")),
            "{expr:?}: {e}"
        );
        assert!(
            e.to_string().contains(&format!("position {pos}")),
            "{expr:?}: {e}"
        );
    }
}

#[test]
fn trailing_input_ignored_like_java_unless_strict() {
    for expr in ["a = 1)", "a = 1 b", "a = 'x' 'y'", "(a = 1)) OR"] {
        assert!(SqlFilter::compile(expr).is_ok(), "{expr:?}");
        let e = SqlFilter::compile_strict(expr).expect_err(expr);
        assert!(e.message.contains("position"), "{e}");
    }
    let e = SqlFilter::compile_strict("a = 1)").unwrap_err();
    assert_eq!(e.position, 5);
    assert!(SqlFilter::compile_strict("a = 1 -- c\n").is_ok());
    assert!(SqlFilter::compile_strict("a = 1 -- no line break").is_ok());
    assert!(SqlFilter::compile_strict("a = 1 - 1").is_err());
}

#[test]
fn nesting_and_size_limits() {
    let ok = format!("{}a = 1{}", "(".repeat(40), ")".repeat(40));
    assert!(eval_with(&ok, &[("a", "1")]));
    for n in [100, 10_000] {
        let deep = format!("{}a = 1{}", "(".repeat(n), ")".repeat(n));
        assert!(SqlFilter::compile(&deep)
            .unwrap_err()
            .message
            .contains("nested"));
        let nots = format!("{}a", "NOT ".repeat(n));
        assert!(SqlFilter::compile(&nots).is_err());
        let negs = format!("a = {}1", "- ".repeat(n));
        assert!(SqlFilter::compile(&negs).is_err());
    }
    let chain = format!("a{}", " IS NULL".repeat(1_000));
    assert!(SqlFilter::compile(&chain).is_err());
    // long flat chains are fine: AND/OR are n-ary
    let ors = (0..3_000)
        .map(|i| format!("a = '{i}'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    assert!(ors.len() < MAX_EXPRESSION_LEN);
    assert!(eval_with(&ors, &[("a", "2999")]));
    let long = format!("a = '{}'", "x".repeat(MAX_EXPRESSION_LEN));
    assert_eq!(
        SqlFilter::compile(&long).unwrap_err().position,
        MAX_EXPRESSION_LEN
    );
}

#[test]
fn java_number_rules() {
    assert_eq!(java_parse_double("1."), Ok(1.0));
    assert_eq!(java_parse_double("-.5e1"), Ok(-5.0));
    assert_eq!(java_parse_double("\t2D "), Ok(2.0));
    assert_eq!(java_parse_double("-Infinity"), Ok(f64::NEG_INFINITY));
    assert!(java_parse_double("NaN").unwrap().is_nan());
    for bad in ["", ".", "1e", "inf", "nan", "1_0", "0x1p3", "1.5ff", "e5"] {
        assert!(java_parse_double(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        java_compare(&Value::Double(-0.0), &Value::Double(0.0)),
        Ok(-1)
    );
    assert_eq!(java_compare(&Value::Int(1), &Value::Bool(true)), Ok(-1));
    assert!(java_compare(&Value::Bool(true), &Value::Str("true".into())).is_err());
}

fn token() -> impl Strategy<Value = String> {
    prop::sample::select(
        &[
            "a",
            "b",
            "AND",
            "OR",
            "NOT",
            "(",
            ")",
            "=",
            "<>",
            ">",
            ">=",
            "<",
            "<=",
            "BETWEEN",
            "IN",
            "IS",
            "NULL",
            "TRUE",
            "FALSE",
            "'x'",
            "''''",
            "1",
            "0",
            "2.5",
            ".5",
            "1e3",
            "5L",
            "-",
            "+",
            ",",
            "CONTAINS",
            "STARTSWITH",
            "ENDSWITH",
            "--",
            "/*",
            "*/",
            "\n",
            "'",
            "é",
            "#",
        ][..],
    )
    .prop_map(str::to_string)
}

fn filters() -> Vec<SqlFilter> {
    [
        "a = 1",
        "a > 1.5",
        "a = b",
        "a BETWEEN 1 AND 5",
        "a NOT IN ('1','x')",
        "a = TRUE",
        "TRUE = a",
        "a CONTAINS '1' OR b IS NULL",
        "-a = -1",
        "a <> 3000000000",
        "NOT a",
        "a > b AND b < 2",
        "a ENDSWITH 'x' AND NOT (b = 'y')",
        "a = 1 = FALSE",
    ]
    .iter()
    .map(|e| SqlFilter::compile(e).unwrap())
    .collect()
}

proptest! {
    #[test]
    fn compile_never_panics_on_any_string(s in "\\PC{0,80}") {
        let _ = SqlFilter::compile(&s);
        let _ = SqlFilter::compile_strict(&s);
    }

    #[test]
    fn compile_never_panics_on_token_soup(toks in prop::collection::vec(token(), 0..40)) {
        let s = toks.join(" ");
        if let Ok(f) = SqlFilter::compile(&s) {
            let _ = f.matches(&|k: &str| (k == "a").then(|| "1".to_string()));
        }
        if let Err(e) = SqlFilter::compile(&s) {
            prop_assert!(e.position <= s.len());
        }
    }

    #[test]
    fn evaluate_never_panics(a in prop::option::of("\\PC{0,12}|[-+ ]?[0-9.eE]{0,8}|NaN|Infinity|true"),
                             b in prop::option::of("\\PC{0,12}|[-+]?[0-9]{0,20}")) {
        for f in filters() {
            let _ = f.matches(&|k: &str| match k { "a" => a.clone(), "b" => b.clone(), _ => None });
        }
    }

    #[test]
    fn properties_string_never_panics(s in "[a-c\u{1}\u{2}=]{0,30}") {
        for f in filters() {
            let _ = f.matches_properties(&s);
        }
    }

    #[test]
    fn deep_nesting_errors_cleanly(n in 65usize..5_000, kind in 0u8..3) {
        let s = match kind {
            0 => format!("{}a = 1{}", "(".repeat(n), ")".repeat(n)),
            1 => format!("{}TRUE", "NOT ".repeat(n)),
            _ => format!("a = {}1", "-".repeat(n)),
        };
        prop_assert!(SqlFilter::compile(&s).is_err());
    }
}
