use super::ast::*;
use super::*;
use crate::model::segment::{ValidDoc, validate};
use crate::model::selection::TraceFilter;
use crate::model::summary::{TraceSummary, compute};
use proptest::prelude::*;

fn canon(s: &str) -> String {
    match parse(s) {
        Ok(e) => e.to_string(),
        Err(e) => panic!("{s:?} did not parse: {e}"),
    }
}

#[test]
fn valid_expressions_and_their_trees() {
    let table = [
        ("responsetime > 5", "responsetime > 5"),
        (
            "duration >= 5 AND duration <= 8",
            "(duration >= 5 AND duration <= 8)",
        ),
        (
            "ok !partial duration <3",
            "((ok AND !partial) AND duration < 3)",
        ),
        (
            "fault OR error AND throttle",
            "(fault OR (error AND throttle))",
        ),
        (
            "(fault OR error) AND throttle",
            "((fault OR error) AND throttle)",
        ),
        ("NOT fault", "!fault"),
        ("!!fault", "!!fault"),
        (
            "FAULT = TRUE and Error != true",
            "(fault AND error = false)",
        ),
        ("http.status != 200", "http.status != 200"),
        (
            "http.url CONTAINS \"/api/game/\"",
            "http.url CONTAINS \"/api/game/\"",
        ),
        (
            "http.url beginswith \"http://a/\" and http.url contains \"/v2/\" and !service(\"a\")",
            "((http.url BEGINSWITH \"http://a/\" AND http.url CONTAINS \"/v2/\") AND !service(\"a\"))",
        ),
        (
            "http.url AND responseTime > 2",
            "(http.url AND responsetime > 2)",
        ),
        (
            "user = \"alice\" user CONTAINS \"\"",
            "(user = \"alice\" AND user CONTAINS \"\")",
        ),
        (
            "annotation.gameid = \"817DL6VO\"",
            "annotation.gameid = \"817DL6VO\"",
        ),
        ("annotation.age > 29", "annotation.age > 29"),
        ("!annotation.age", "!annotation.age"),
        ("annotation.vip = true", "annotation.vip = true"),
        ("annotation[\"a.b-c\"] = 1", "annotation[\"a.b-c\"] = 1"),
        (
            "service(\"api.example.com\") { fault }",
            "service(\"api.example.com\") { fault }",
        ),
        ("service() { fault }", "service() { fault }"),
        (
            "service(\"data-plane\") {root = true and fault = true}",
            "service(\"data-plane\") { (root AND fault) }",
        ),
        (
            "service(id(type: \"AWS::Lambda::Function\")) { error }",
            "service(id(type: \"AWS::Lambda::Function\")) { error }",
        ),
        (
            "service(id(name: \"a\", account.id: \"123\"))",
            "service(id(name: \"a\", account.id: \"123\"))",
        ),
        (
            "edge(\"api.example.com\", \"backend.example.com\") { error }",
            "edge(\"api.example.com\", \"backend.example.com\") { error }",
        ),
        (
            "group.name = \"high_response_time\" AND user = \"alice\"",
            "(group.name = \"high_response_time\" AND user = \"alice\")",
        ),
        (
            "group.arn != \"arn:aws:xray:us-east-1:1:group/g/X\"",
            "group.arn != \"arn:aws:xray:us-east-1:1:group/g/X\"",
        ),
        (
            "rootcause.fault.entity { last and name = \"deserialize\" }",
            "rootcause.fault.entity { (last AND name = \"deserialize\") }",
        ),
        (
            "rootcause.responsetime.service { last and type = \"AWS::DynamoDB\" }",
            "rootcause.responsetime.service { (last AND type = \"AWS::DynamoDB\") }",
        ),
        (
            "rootcause.fault.entity { name = traces }",
            "rootcause.fault.entity { name = \"traces\" }",
        ),
        (
            "rootcause.responsetime.entity { coverage > 0.7 }",
            "rootcause.responsetime.entity { coverage > 0.7 }",
        ),
        (
            "rootcause.error.exception { message CONTAINS \"timeout\" and index = 0 }",
            "rootcause.error.exception { (message CONTAINS \"timeout\" AND index = 0) }",
        ),
        (
            r#"rootcause.json = #[{ "Services": [ { "Name": "A", "EntityPath": [ {"Name": "A"}, {"Name": "b"} ] } ] }]"#,
            r#"rootcause.json = #[{"Services":[{"Name":"A","EntityPath":[{"Name":"A"},{"Name":"b"}]}]}]"#,
        ),
        (
            "availabilityzone = \"us-east-1a\" instance.id BEGINSWITH \"i-\" resource.arn ENDSWITH \"x\"",
            "((availabilityzone = \"us-east-1a\" AND instance.id BEGINSWITH \"i-\") AND resource.arn ENDSWITH \"x\")",
        ),
        ("annotation.temp > -5.5", "annotation.temp > -5.5"),
    ];
    for (input, tree) in table {
        assert_eq!(canon(input), tree, "{input}");
        assert_eq!(canon(tree), tree, "canonical form is stable: {tree}");
    }
}

#[test]
fn trees_have_the_expected_shape() {
    assert_eq!(
        parse("ok !partial").unwrap(),
        Expr::And(
            Box::new(Expr::Bool {
                kw: BoolKw::Ok,
                value: true
            }),
            Box::new(Expr::Not(Box::new(Expr::Bool {
                kw: BoolKw::Partial,
                value: true
            })))
        )
    );
    assert_eq!(
        parse("edge(\"a\", id(name: \"b\")) { responsetime >= 1 }").unwrap(),
        Expr::Edge {
            from: NodeSel::Name("a".into()),
            to: NodeSel::Id {
                name: Some("b".into()),
                kind: None,
                account: None
            },
            block: Some(Box::new(Expr::Num {
                kw: NumKw::ResponseTime,
                op: Op::Ge,
                value: 1.0
            })),
        }
    );
    assert_eq!(
        parse("annotation.tier CONTAINS \"go\"").unwrap(),
        Expr::Annotation {
            key: "tier".into(),
            test: Some((Op::Contains, Literal::Str("go".into())))
        }
    );
}

#[test]
fn invalid_expressions_name_position_and_expectation() {
    let table = [
        ("responsetime >", "expected a value after '>' at 14"),
        ("responsetime > ", "expected a value after '>' at 15"),
        (
            "responsetime > \"x\"",
            "expected a number after '>', found the string \"x\" at 15",
        ),
        (
            "responsetime",
            "expected a comparison (=, !=, <, <=, > or >=) after 'responsetime' at 12",
        ),
        (
            "responsetime CONTAINS 3",
            "'CONTAINS' does not apply to 'responsetime', which is a number at 13",
        ),
        (
            "http.url > \"a\"",
            "'>' does not apply to 'http.url'; use =, !=, CONTAINS, BEGINSWITH or ENDSWITH at 9",
        ),
        ("ok AND", "expected a condition after 'AND' at 6"),
        ("ok OR", "expected a condition after 'OR' at 5"),
        ("!", "expected a condition after '!' at 1"),
        ("(ok", "expected ')' to close '(' (opened at 0) at 3"),
        (
            "service() { ok",
            "expected '}' to close '{' (opened at 10) at 14",
        ),
        (
            "ok)",
            "expected AND, OR or the end of the expression, found ')' at 2",
        ),
        ("foo = 1", "unknown keyword 'foo' at 0"),
        (
            "fault = maybe",
            "expected true or false after '=', found 'maybe' at 8",
        ),
        ("user = \"abc", "unterminated string at 7"),
        ("ok & fault", "unexpected character '&' at 3"),
        ("first", "'first' cannot be used at the top level at 0"),
        (
            "service(\"a\") { annotation.x }",
            "'annotation' cannot be used inside a service() block at 15",
        ),
        (
            "service(\"a\") { service(\"b\") }",
            "'service' cannot be used inside a service() block at 15",
        ),
        (
            "edge(\"a\", \"b\") { root }",
            "'root' cannot be used inside an edge() block at 17",
        ),
        (
            "rootcause.fault.entity { coverage > 1 }",
            "'coverage' cannot be used inside a rootcause entity block at 25",
        ),
        (
            "rootcause.fault.service { message = \"x\" }",
            "'message' cannot be used inside a rootcause service block at 26",
        ),
        (
            "rootcause.fault.thing { last }",
            "unknown keyword 'rootcause.fault.thing'; use rootcause.fault.service, .entity or .exception at 0",
        ),
        (
            "rootcause.fault.entity",
            "expected '{' after 'rootcause.fault.entity' at 22",
        ),
        (
            "rootcause.json = #[{\"a\": }]",
            "the #[...] pattern is not valid JSON: expected value at line 1 column 8 at 17",
        ),
        ("service(\"a\"", "expected ')' to close service( at 11"),
        (
            "service(a)",
            "expected a quoted service name or id(...), found 'a' at 8",
        ),
        (
            "service(id(nam: \"a\"))",
            "unknown id() argument 'nam'; use name, type or account.id at 11",
        ),
        (
            "edge(\"a\")",
            "expected ',' between the two nodes of edge(), found ')' at 8",
        ),
        (
            "group.name \"g\"",
            "expected '=' or '!=' after 'group.name' at 10",
        ),
        ("annotation.x > \"a\"", "'>' does not apply to \"a\" at 15"),
        (
            "annotation.x CONTAINS 3",
            "'CONTAINS' does not apply to 3 at 22",
        ),
        ("", "expected a condition at 0"),
        (
            "id(name: \"a\")",
            "id(...) names a node inside service() or edge() at 0",
        ),
    ];
    for (input, message) in table {
        match parse(input) {
            Ok(e) => panic!("{input:?} parsed as {e}"),
            Err(e) => assert_eq!(e.to_string(), message, "{input:?}"),
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}ok{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(
        parse(&deep)
            .unwrap_err()
            .message
            .contains("nests more than")
    );
    let bangs = format!("{}ok", "!".repeat(10_000));
    assert!(parse(&bangs).is_err());
    let chain = vec!["ok"; 20_000].join(" AND ");
    assert!(
        parse(&chain).is_ok(),
        "long AND chains loop rather than recurse"
    );
}

#[test]
fn groups_are_inlined_and_unknown_groups_refused() {
    let lookup = |_: GroupBy, name: &str| match name {
        "slow" => Some("responsetime > 5".to_owned()),
        "all" => Some(String::new()),
        "loop" => Some("group.name = \"loop\"".to_owned()),
        _ => None,
    };
    let e = resolve_groups(
        parse("group.name = \"slow\" AND user = \"alice\"").unwrap(),
        &lookup,
    )
    .unwrap();
    assert_eq!(e.to_string(), "(responsetime > 5 AND user = \"alice\")");
    let e = resolve_groups(parse("group.name != \"slow\"").unwrap(), &lookup).unwrap();
    assert_eq!(e.to_string(), "!responsetime > 5");
    assert!(
        resolve_groups(parse("group.name = \"nope\"").unwrap(), &lookup)
            .unwrap_err()
            .to_string()
            .contains("does not exist")
    );
    assert!(
        resolve_groups(parse("group.name = \"loop\"").unwrap(), &lookup)
            .unwrap_err()
            .to_string()
            .contains("levels deep")
    );
    let all =
        compile(&resolve_groups(parse("group.name = \"all\"").unwrap(), &lookup).unwrap()).unwrap();
    assert!(all.matches(&TraceSummary::default()));
}

// ---- evaluation ----

const T: &str = "1-581cf771-a006649127e371903a2de979";

fn trace(docs: &[String]) -> TraceSummary {
    let parsed: Vec<ValidDoc<'_>> = docs.iter().map(|d| validate(d).unwrap()).collect();
    let refs: Vec<&ValidDoc<'_>> = parsed.iter().collect();
    compute(&refs)
}

fn sample() -> TraceSummary {
    let front = format!(
        r#"{{"name":"front","id":"1000000000000001","trace_id":"{T}","start_time":100,"end_time":103,"fault":true,"user":"alice","origin":"AWS::EC2::Instance",
        "http":{{"request":{{"method":"POST","url":"https://shop/api/cart","user_agent":"curl/8","client_ip":"10.0.0.1"}},"response":{{"status":502}}}},
        "aws":{{"ec2":{{"instance_id":"i-0abc","availability_zone":"us-east-1a"}}}},"annotations":{{"tenant":"t3","items":4,"vip":true}},
        "subsegments":[{{"id":"2000000000000002","name":"back","namespace":"remote","start_time":100.5,"end_time":102.5,"fault":true,"http":{{"response":{{"status":500}}}}}},
                       {{"id":"3000000000000003","name":"DynamoDB","namespace":"aws","start_time":100.1,"end_time":100.2,"throttle":true,"aws":{{"table_name":"orders"}}}}]}}"#
    );
    let back = format!(
        r#"{{"name":"back","id":"4000000000000004","trace_id":"{T}","parent_id":"2000000000000002","start_time":100.6,"end_time":102.4,"fault":true,
        "subsegments":[{{"id":"5000000000000005","name":"query","start_time":100.7,"end_time":102.3,"fault":true,"cause":{{"exceptions":[{{"id":"aaaaaaaaaaaaaaaa","type":"Timeout","message":"db timed out"}}]}}}}]}}"#
    );
    trace(&[front, back])
}

fn eval(expr: &str, s: &TraceSummary) -> bool {
    compile(&parse(expr).unwrap()).unwrap().matches(s)
}

#[test]
fn trace_level_keywords() {
    let s = sample();
    for (expr, want) in [
        ("fault", true),
        ("error", false),
        ("ok", false),
        ("throttle", true),
        ("partial", false),
        ("inferred", true),
        ("responsetime = 3", true),
        ("responsetime > 3", false),
        ("duration >= 3", true),
        ("http.status = 502", true),
        ("http.status != 502", false),
        ("http.url CONTAINS \"/api/\"", true),
        ("http.url BEGINSWITH \"http://\"", false),
        ("http.method = \"POST\"", true),
        ("http.useragent ENDSWITH \"/8\"", true),
        ("http.clientip = \"10.0.0.1\"", true),
        ("user = \"alice\"", true),
        ("user != \"alice\"", false),
        ("user CONTAINS \"\"", true),
        ("availabilityzone = \"us-east-1a\"", true),
        ("instance.id = \"i-0abc\"", true),
        ("resource.arn", false),
        ("annotation.tenant = \"t3\"", true),
        ("annotation.tenant = \"t4\"", false),
        ("annotation.tenant != \"t4\"", true),
        ("annotation.items > 3", true),
        ("annotation.items = \"4\"", false),
        ("annotation.vip = true", true),
        ("annotation.vip", true),
        ("!annotation.nope", true),
        ("annotation.nope", false),
    ] {
        assert_eq!(eval(expr, &s), want, "{expr}");
    }
}

#[test]
fn service_and_edge_blocks() {
    let s = sample();
    for (expr, want) in [
        ("service(\"back\")", true),
        ("service(\"nope\")", false),
        ("!service(\"nope\")", true),
        ("service(\"front\") { root }", true),
        ("service(\"back\") { root }", false),
        ("service(\"back\") { fault AND responsetime > 1.7 }", true),
        ("service(\"orders\") { throttle AND inferred }", true),
        ("service(\"DynamoDB\")", false),
        ("service(id(type: \"AWS::DynamoDB::Table\"))", true),
        (
            "service(id(name: \"front\", type: \"AWS::EC2::Instance\"))",
            true,
        ),
        ("service(id(name: \"front\", type: \"remote\"))", false),
        ("service() { throttle }", true),
        ("service() { error }", false),
        (
            "service(\"front\") { name = \"front\" AND type BEGINSWITH \"AWS::EC2\" }",
            true,
        ),
        ("edge(\"front\", \"back\")", true),
        ("edge(\"back\", \"front\")", false),
        (
            "edge(\"front\", \"back\") { fault AND http.status = 500 AND duration = 2 }",
            true,
        ),
        ("edge(\"front\", \"orders\") { throttle }", true),
        ("edge(\"front\", \"orders\") { ok }", false),
    ] {
        assert_eq!(eval(expr, &s), want, "{expr}");
    }
}

#[test]
fn root_cause_blocks_and_json() {
    let s = sample();
    for (expr, want) in [
        ("rootcause.fault.service { name = \"back\" }", true),
        ("rootcause.fault.service { name = \"front\" }", false),
        ("rootcause.fault.entity { last AND name = \"query\" }", true),
        ("rootcause.fault.entity { first AND name = \"back\" }", true),
        ("rootcause.fault.entity { index = 1 }", true),
        (
            "rootcause.fault.exception { name = \"Timeout\" AND message CONTAINS \"timed out\" }",
            true,
        ),
        ("rootcause.error.service { name = \"back\" }", false),
        (
            "rootcause.responsetime.service { last AND name = \"back\" }",
            true,
        ),
        (
            "rootcause.responsetime.entity { coverage > 0.5 AND name = \"query\" }",
            true,
        ),
        (
            "rootcause.responsetime.entity { coverage > 0.6 AND name = \"query\" }",
            false,
        ),
        (
            r#"rootcause.json = #[{"Services":[{"Name":"back","EntityPath":[{"Name":"back"},{"Name":"query"}]}]}]"#,
            true,
        ),
        (
            r#"rootcause.json = #[{"Services":[{"Name":"back","EntityPath":[{"Name":"query"}]}]}]"#,
            false,
        ),
        (r#"rootcause.json = #[{"ClientImpacting":true}]"#, true),
    ] {
        assert_eq!(eval(expr, &s), want, "{expr}");
    }
}

#[test]
fn plans_only_narrow_what_must_hold() {
    use crate::model::selection::{Plan, Term};
    let plan = |e: &str| compile(&parse(e).unwrap()).unwrap().plan();
    assert_eq!(plan("duration > 0"), Plan::All);
    assert!(matches!(
        plan("http.status = 500"),
        Plan::Term(Term::HttpStatus(500))
    ));
    assert!(matches!(plan("!fault"), Plan::All));
    assert_eq!(plan("http.status = 500.5"), Plan::Or(vec![]));
    assert_eq!(
        plan("service(\"never-interned-service-xyz\")"),
        Plan::Or(vec![])
    );
}

// ---- properties ----

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _./:-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(8).collect()),
        Just("a\"b\\c\nd".to_owned()),
    ]
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![(-1000i32..1000).prop_map(f64::from), (-1.0e6f64..1.0e6)]
}

fn op(ops: &'static [Op]) -> impl Strategy<Value = Op> {
    prop::sample::select(ops)
}

const NUM_OPS: &[Op] = &[Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];
const STR_OPS: &[Op] = &[Op::Eq, Op::Ne, Op::Contains, Op::BeginsWith, Op::EndsWith];

fn leaf(
    bools: &'static [BoolKw],
    nums: &'static [NumKw],
    strs: &'static [StrKw],
) -> BoxedStrategy<Expr> {
    let b = (prop::sample::select(bools), any::<bool>())
        .prop_map(|(kw, value)| Expr::Bool { kw, value });
    let n = (prop::sample::select(nums), op(NUM_OPS), number())
        .prop_map(|(kw, op, value)| Expr::Num { kw, op, value });
    if strs.is_empty() {
        return prop_oneof![b, n].boxed();
    }
    let s = (
        prop::sample::select(strs),
        prop::option::of((op(STR_OPS), text())),
    )
        .prop_map(|(kw, test)| Expr::Str { kw, test });
    prop_oneof![b, n, s].boxed()
}

fn combine(inner: BoxedStrategy<Expr>) -> BoxedStrategy<Expr> {
    inner
        .prop_recursive(3, 12, 2, |e| {
            prop_oneof![
                (e.clone(), e.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
                (e.clone(), e.clone()).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
                e.prop_map(|a| Expr::Not(Box::new(a))),
            ]
        })
        .boxed()
}

fn node() -> impl Strategy<Value = NodeSel> {
    prop_oneof![
        text().prop_map(NodeSel::Name),
        (
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(text())
        )
            .prop_map(|(name, kind, account)| NodeSel::Id {
                name,
                kind,
                account
            }),
    ]
}

fn literal_test() -> impl Strategy<Value = Option<(Op, Literal)>> {
    prop::option::of(prop_oneof![
        (op(NUM_OPS), number()).prop_map(|(o, n)| (o, Literal::Num(n))),
        (op(STR_OPS), text()).prop_map(|(o, s)| (o, Literal::Str(s))),
        (op(&[Op::Eq, Op::Ne]), any::<bool>()).prop_map(|(o, b)| (o, Literal::Bool(b))),
    ])
}

fn expr() -> impl Strategy<Value = Expr> {
    use BoolKw::*;
    use NumKw::*;
    use StrKw::*;
    let trace = leaf(
        &[Ok, Error, Fault, Throttle, Partial, Inferred],
        &[ResponseTime, Duration, HttpStatus],
        &[
            HttpUrl,
            HttpMethod,
            HttpUserAgent,
            HttpClientIp,
            User,
            AvailabilityZone,
            InstanceId,
            ResourceArn,
        ],
    );
    let in_service = combine(leaf(
        &[Ok, Error, Fault, Throttle, Partial, Inferred, Root],
        &[ResponseTime, Duration, HttpStatus],
        &[Name, Type],
    ));
    let in_edge = combine(leaf(
        &[Ok, Error, Fault, Throttle, Partial, Inferred],
        &[ResponseTime, Duration, HttpStatus],
        &[],
    ));
    let in_entity = combine(leaf(&[Remote, First, Last], &[Index], &[Name]));
    let service = (prop::option::of(node()), prop::option::of(in_service)).prop_map(|(node, b)| {
        Expr::Service {
            node,
            block: b.map(Box::new),
        }
    });
    let edge = (node(), node(), prop::option::of(in_edge)).prop_map(|(from, to, b)| Expr::Edge {
        from,
        to,
        block: b.map(Box::new),
    });
    let ann = (
        "[a-z_][a-z0-9_]{0,6}(\\.[a-z][a-z0-9]{0,3})?|[0-9 .-]{1,5}",
        literal_test(),
    )
        .prop_map(|(key, test)| Expr::Annotation { key, test });
    let group =
        (any::<bool>(), any::<bool>(), text()).prop_map(|(arn, negated, value)| Expr::Group {
            by: if arn { GroupBy::Arn } else { GroupBy::Name },
            negated,
            value,
        });
    let rc = (
        prop::sample::select(&[RcKind::Fault, RcKind::Error]),
        in_entity,
    )
        .prop_map(|(kind, b)| Expr::RootCause {
            kind,
            level: RcLevel::Entity,
            block: Box::new(b),
        });
    let json = ("[A-Za-z]{1,6}", 0i64..100).prop_map(|(n, i)| {
        Expr::RootCauseJson(serde_json::json!([{ "Services": [{ "Name": n, "Index": i }] }]))
    });
    combine(prop_oneof![trace, service, edge, ann, group, rc, json].boxed())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printing_then_parsing_gives_the_same_tree(e in expr()) {
        let printed = e.to_string();
        let back = parse(&printed).map_err(|err| TestCaseError::fail(format!("{printed:?}: {err}")))?;
        prop_assert_eq!(back, e, "{}", printed);
    }

    #[test]
    fn the_parser_never_panics_on_any_text(s in any::<String>()) {
        let _ = parse(&s);
    }

    #[test]
    fn the_parser_never_panics_on_token_soup(parts in prop::collection::vec(prop::sample::select(&[
        "ok", "AND", "OR", "!", "(", ")", "{", "}", "service(", "edge(", "\"a\"", ",", "id(", "name:", ":", "=", "!=", ">", "3",
        "-", ".5", "annotation.", "annotation[", "]", "rootcause.fault.entity", "rootcause.json", "#[", "#[{\"a\":[1]}]",
        "http.status", "CONTAINS", "true", "first", "group.name", "\"", "\\", "user", "coverage", "responsetime",
    ][..]), 0..24)) {
        let _ = parse(&parts.join(" "));
        let _ = parse(&parts.concat());
    }
}
