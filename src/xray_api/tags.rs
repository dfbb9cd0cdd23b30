//! Tags on taggable resources (groups and sampling rules, registered by their own operations).
//! Keys starting with `aws:` are reserved; at most 50 user tags a resource.

use super::ApiState;
use super::error::ApiError;
use crate::control::{Command, MAX_TAGS};
use crate::error::ErrorKind;
use crate::store::Partition;
use serde_json::{Value, json};

fn not_found(arn: &str) -> ApiError {
    let mut e = ApiError::new(
        ErrorKind::NotFound,
        format!("Resource {arn} does not exist."),
    );
    e.resource_name = Some(arn.to_owned());
    e
}

fn tag_chars_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c))
}

/// Reads and checks a `Tags` list (for TagResource and for resources created with tags).
pub fn tags_from(v: &Value) -> Result<Vec<(String, String)>, ApiError> {
    let mut new = Vec::new();
    for t in v.as_array().into_iter().flatten() {
        let (k, v) = (
            t["Key"].as_str().unwrap_or(""),
            t["Value"].as_str().unwrap_or(""),
        );
        if k.starts_with("aws:") {
            return Err(ApiError::invalid(format!(
                "Tag key '{k}' uses the reserved prefix 'aws:'."
            )));
        }
        if !tag_chars_ok(k) || !tag_chars_ok(v) {
            return Err(ApiError::invalid(format!(
                "Tag '{k}' has characters outside letters, digits, spaces and _ . : / = + - @."
            )));
        }
        new.push((k.to_owned(), v.to_owned()));
    }
    if new.len() > MAX_TAGS {
        return Err(ApiError::with_code(
            400,
            "TooManyTagsException",
            format!("A resource may have at most {MAX_TAGS} tags."),
        ));
    }
    Ok(new)
}

pub async fn tag_resource(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let arn = req["ResourceARN"].as_str().unwrap_or("");
    let cmd = Command::TagResource {
        arn: arn.to_owned(),
        tags: tags_from(&req["Tags"])?,
    };
    super::execute(st, part, cmd).await?;
    Ok("{}".to_owned())
}

pub async fn untag_resource(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let arn = req["ResourceARN"].as_str().unwrap_or("");
    let keys: Vec<&str> = req["TagKeys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if let Some(k) = keys.iter().find(|k| k.starts_with("aws:")) {
        return Err(ApiError::invalid(format!(
            "Tag key '{k}' uses the reserved prefix 'aws:'."
        )));
    }
    let cmd = Command::UntagResource {
        arn: arn.to_owned(),
        keys: keys.iter().map(|k| k.to_string()).collect(),
    };
    super::execute(st, part, cmd).await?;
    Ok("{}".to_owned())
}

pub async fn list_tags_for_resource(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let arn = req["ResourceARN"].as_str().unwrap_or("");
    st.control
        .read(part, |c| {
            let tags = c.tags.get(arn).ok_or_else(|| not_found(arn))?;
            let list: Vec<Value> = tags
                .iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect();
            Ok(json!({ "Tags": list }).to_string())
        })
        .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:xray:us-east-1:000000000000:group/api/XYZ";

    fn state() -> (ApiState, Partition) {
        let part = Partition::default();
        let st = super::super::tests::state(crate::auth::Auth::open());
        st.control.with(&part, |c| {
            c.tags.insert(
                ARN.into(),
                [("aws:created".to_owned(), "x".to_owned())].into(),
            )
        });
        (st, part)
    }

    async fn tags(st: &ApiState, part: &Partition) -> Value {
        serde_json::from_str(
            &list_tags_for_resource(st, part, &json!({"ResourceARN": ARN}))
                .await
                .unwrap(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn tags_are_added_replaced_and_removed() {
        let (st, part) = state();
        tag_resource(&st, &part, &json!({"ResourceARN": ARN, "Tags": [{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "dev"}]})).await.unwrap();
        tag_resource(
            &st,
            &part,
            &json!({"ResourceARN": ARN, "Tags": [{"Key": "team", "Value": "b"}]}),
        )
        .await
        .unwrap();
        untag_resource(&st, &part, &json!({"ResourceARN": ARN, "TagKeys": ["env"]}))
            .await
            .unwrap();
        assert_eq!(
            tags(&st, &part).await["Tags"],
            json!([{"Key": "aws:created", "Value": "x"}, {"Key": "team", "Value": "b"}])
        );
        assert!(
            untag_resource(
                &st,
                &part,
                &json!({"ResourceARN": ARN, "TagKeys": ["aws:created"]})
            )
            .await
            .is_err()
        );
    }

    #[tokio::test]
    async fn more_than_fifty_user_tags_is_too_many() {
        let (st, part) = state();
        let fifty: Vec<Value> = (0..50)
            .map(|i| json!({"Key": format!("k{i}"), "Value": "v"}))
            .collect();
        tag_resource(&st, &part, &json!({"ResourceARN": ARN, "Tags": fifty}))
            .await
            .unwrap();
        let e = tag_resource(
            &st,
            &part,
            &json!({"ResourceARN": ARN, "Tags": [{"Key": "one-more", "Value": "v"}]}),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (e.code, e.resource_name.as_deref()),
            ("TooManyTagsException", Some(ARN))
        );
    }
}
