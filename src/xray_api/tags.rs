//! Tags on taggable resources (groups and sampling rules, registered by their own operations).
//! Keys starting with `aws:` are reserved; at most 50 user tags a resource.

use super::ApiState;
use super::error::ApiError;
use super::types::{
    ListTagsForResourceRequest, ListTagsForResourceResponse, Tag, TagResourceRequest,
    TagResourceResponse, UntagResourceRequest, UntagResourceResponse,
};
use crate::control::{Command, MAX_TAGS};
use crate::error::ErrorKind;
use crate::store::Partition;

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
pub fn tags_from(tags: Vec<Tag>) -> Result<Vec<(String, String)>, ApiError> {
    let mut new = Vec::with_capacity(tags.len());
    for Tag { key: k, value: v } in tags {
        if k.starts_with("aws:") {
            return Err(ApiError::invalid(format!(
                "Tag key '{k}' uses the reserved prefix 'aws:'."
            )));
        }
        if !tag_chars_ok(&k) || !tag_chars_ok(&v) {
            return Err(ApiError::invalid(format!(
                "Tag '{k}' has characters outside letters, digits, spaces and _ . : / = + - @."
            )));
        }
        new.push((k, v));
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
    req: TagResourceRequest,
) -> Result<String, ApiError> {
    let cmd = Command::TagResource {
        arn: req.resource_arn,
        tags: tags_from(req.tags)?,
    };
    super::execute(st, part, cmd).await?;
    super::answer(&TagResourceResponse {})
}

pub async fn untag_resource(
    st: &ApiState,
    part: &Partition,
    req: UntagResourceRequest,
) -> Result<String, ApiError> {
    if let Some(k) = req.tag_keys.iter().find(|k| k.starts_with("aws:")) {
        return Err(ApiError::invalid(format!(
            "Tag key '{k}' uses the reserved prefix 'aws:'."
        )));
    }
    let cmd = Command::UntagResource {
        arn: req.resource_arn,
        keys: req.tag_keys,
    };
    super::execute(st, part, cmd).await?;
    super::answer(&UntagResourceResponse {})
}

pub async fn list_tags_for_resource(
    st: &ApiState,
    part: &Partition,
    req: ListTagsForResourceRequest,
) -> Result<String, ApiError> {
    let arn = req.resource_arn;
    let tags = st
        .control
        .read(part, |c| c.tags.get(&arn).cloned())
        .await?
        .ok_or_else(|| not_found(&arn))?;
    let list = tags
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect();
    super::answer(&ListTagsForResourceResponse {
        tags: Some(list),
        next_token: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn req<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

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
            &list_tags_for_resource(st, part, req(json!({"ResourceARN": ARN})))
                .await
                .unwrap(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn tags_are_added_replaced_and_removed() {
        let (st, part) = state();
        tag_resource(&st, &part, req(json!({"ResourceARN": ARN, "Tags": [{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "dev"}]}))).await.unwrap();
        tag_resource(
            &st,
            &part,
            req(json!({"ResourceARN": ARN, "Tags": [{"Key": "team", "Value": "b"}]})),
        )
        .await
        .unwrap();
        untag_resource(
            &st,
            &part,
            req(json!({"ResourceARN": ARN, "TagKeys": ["env"]})),
        )
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
                req(json!({"ResourceARN": ARN, "TagKeys": ["aws:created"]}))
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
        tag_resource(&st, &part, req(json!({"ResourceARN": ARN, "Tags": fifty})))
            .await
            .unwrap();
        let e = tag_resource(
            &st,
            &part,
            req(json!({"ResourceARN": ARN, "Tags": [{"Key": "one-more", "Value": "v"}]})),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (e.code, e.resource_name.as_deref()),
            ("TooManyTagsException", Some(ARN))
        );
    }
}
