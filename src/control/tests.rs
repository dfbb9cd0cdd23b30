//! The state machine alone: commands in, state and refusals out, and the same commands applied
//! again to a fresh state (what replay does) give the same state.

use super::*;

fn group(name: &str) -> Group {
    Group {
        name: name.into(),
        arn: format!("arn:aws:xray:us-east-1:000000000000:group/{name}/X"),
        filter: None,
        insights_enabled: false,
        notifications_enabled: false,
    }
}

fn create(name: &str) -> Command {
    Command::CreateGroup {
        group: group(name),
        tags: vec![("team".into(), "a".into())],
    }
}

#[test]
fn groups_are_created_once_and_limited() {
    let mut s = ControlState::default();
    assert_eq!(s.apply(&create("api")), Ok(Applied::Group(group("api"))));
    assert_eq!(
        s.apply(&create("api")),
        Err(ControlError::Invalid("Group api already exists.".into()))
    );
    assert!(s.apply(&create(DEFAULT_GROUP)).is_err());
    for i in 1..MAX_GROUPS {
        s.apply(&create(&format!("g{i}"))).unwrap();
    }
    assert!(
        matches!(s.apply(&create("one-too-many")), Err(ControlError::Invalid(m)) if m.contains("at most 25"))
    );
    assert_eq!(s.tags[&group("api").arn]["team"], "a");
}

#[test]
fn a_refused_command_changes_nothing() {
    let mut s = ControlState::default();
    s.apply(&create("api")).unwrap();
    let arn = group("api").arn;
    let tags: Vec<(String, String)> = (0..MAX_TAGS)
        .map(|i| (format!("k{i}"), "v".into()))
        .collect();
    let before = serde_json::to_string(&s).unwrap();
    let r = s.apply(&Command::TagResource {
        arn: arn.clone(),
        tags,
    });
    assert!(matches!(
        r,
        Err(ControlError::Coded {
            code: "TooManyTagsException",
            ..
        })
    ));
    assert_eq!(serde_json::to_string(&s).unwrap(), before);
    let r = s.apply(&Command::TagResource {
        arn: "arn:nope".into(),
        tags: vec![],
    });
    assert!(matches!(r, Err(ControlError::NotFound { .. })));
}

#[test]
fn policy_revisions_guard_changes() {
    let mut s = ControlState::default();
    let put = |rev: Option<&str>| Command::PutPolicy {
        name: "p".into(),
        document: "{}".into(),
        expected_revision: rev.map(str::to_owned),
        at: 1.0,
    };
    assert!(matches!(s.apply(&put(Some("0"))), Ok(Applied::Policy(_, p)) if p.revision == 1));
    assert!(matches!(
        s.apply(&put(Some("0"))),
        Err(ControlError::Coded {
            code: "InvalidPolicyRevisionIdException",
            ..
        })
    ));
    assert!(matches!(s.apply(&put(Some("1"))), Ok(Applied::Policy(_, p)) if p.revision == 2));
    let del = |rev: &str| Command::DeletePolicy {
        name: "p".into(),
        expected_revision: Some(rev.into()),
    };
    assert!(s.apply(&del("1")).is_err());
    assert_eq!(s.apply(&del("2")), Ok(Applied::Done));
    assert!(s.policies.is_empty());
}

#[test]
fn replaying_the_logged_commands_rebuilds_the_same_state() {
    let cmds = vec![
        create("api"),
        Command::UpdateGroup {
            arn: group("api").arn,
            filter: Some("service(\"x\")".into()),
            insights_enabled: true,
            notifications_enabled: false,
        },
        Command::PutEncryption {
            kind: "KMS".into(),
            key_id: Some("arn:aws:kms:us-east-1:000000000000:key/k".into()),
        },
        Command::UpdateDestination {
            name: Some("CloudWatchLogs".into()),
            kms_key_id: None,
        },
        Command::UpdateIndexingRule {
            name: "Default".into(),
            percentage: 12.5,
            at: 3.0,
        },
        Command::CountTelemetryRecords { n: 4 },
        Command::StartRetrieval {
            token: "t".into(),
            retrieval: Retrieval {
                trace_ids: vec!["1-5759e988-bd862e3fe1be46a994272793".into()],
                start: 1.0,
                end: 2.0,
                created_at: 3.0,
                cancelled: false,
            },
        },
        Command::CancelRetrieval { token: "t".into() },
        Command::CreateSamplingRule {
            rule: crate::sampling::Rule {
                name: "r".into(),
                priority: 5,
                ..crate::sampling::Rule::default_rule()
            },
            arn_prefix: "arn:aws:xray:us-east-1:000000000000:sampling-rule/".into(),
            tags: vec![],
            at: 4.0,
        },
        Command::TagResource {
            arn: group("api").arn,
            tags: vec![("env".into(), "prod".into())],
        },
        Command::UntagResource {
            arn: group("api").arn,
            keys: vec!["team".into()],
        },
    ];
    let mut live = ControlState::default();
    for c in &cmds {
        live.apply(c).unwrap();
    }
    // What the log holds is the commands' JSON; replay decodes and applies them in order.
    let logged: Vec<String> = cmds
        .iter()
        .map(|c| serde_json::to_string(c).unwrap())
        .collect();
    let mut replayed = ControlState::default();
    for j in &logged {
        replayed.apply(&serde_json::from_str(j).unwrap()).unwrap();
    }
    assert_eq!(
        serde_json::to_value(&replayed).unwrap(),
        serde_json::to_value(&live).unwrap()
    );
    assert!(live.retrievals["t"].cancelled);
    assert_eq!(live.tags[&group("api").arn].len(), 1);
}
