//! Groups: a name and a filter expression that scopes the service graph and statistics.
//! The built-in `Default` group holds every trace and cannot be changed or deleted.

use super::ApiState;
use super::error::ApiError;
use crate::control::{Applied, Command, DEFAULT_GROUP, Group};
use crate::store::Partition;
use serde_json::{Value, json};

fn default_arn(part: &Partition) -> String {
    format!(
        "arn:aws:xray:{}:{}:group/{DEFAULT_GROUP}",
        part.region, part.account
    )
}

fn group_json(g: &Group) -> Value {
    let mut v = json!({
        "GroupName": g.name,
        "GroupARN": g.arn,
        "InsightsConfiguration": {"InsightsEnabled": g.insights_enabled, "NotificationsEnabled": g.notifications_enabled},
    });
    if let Some(f) = &g.filter {
        v["FilterExpression"] = f.as_str().into();
    }
    v
}

fn default_group(part: &Partition) -> Group {
    Group {
        name: DEFAULT_GROUP.into(),
        arn: default_arn(part),
        filter: None,
        insights_enabled: false,
        notifications_enabled: false,
    }
}

/// The group a request names, by GroupName or GroupARN (one of them).
pub async fn find(st: &ApiState, part: &Partition, req: &Value) -> Result<Group, ApiError> {
    let groups = st.control.read(part, |c| c.groups.clone()).await?;
    find_in(&groups, part, req)
}

/// The group a request names among the partition's `groups`.
pub fn find_in(groups: &[Group], part: &Partition, req: &Value) -> Result<Group, ApiError> {
    let (name, arn) = (req["GroupName"].as_str(), req["GroupARN"].as_str());
    if name.is_some() && arn.is_some() {
        return Err(ApiError::invalid("Give GroupName or GroupARN, not both."));
    }
    if name == Some(DEFAULT_GROUP) || arn == Some(default_arn(part).as_str()) {
        return Ok(default_group(part));
    }
    groups
        .iter()
        .find(|g| Some(g.name.as_str()) == name || Some(g.arn.as_str()) == arn)
        .cloned()
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "Group {} does not exist.",
                name.or(arn).unwrap_or("(none given)")
            ))
        })
}

/// Checks a filter expression the way GetTraceSummaries would run it.
async fn check_filter(
    st: &ApiState,
    part: &Partition,
    f: Option<&str>,
) -> Result<Option<String>, ApiError> {
    match f.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => {
            super::traces::compile_filter(st, part, text).await?;
            Ok(Some(text.to_owned()))
        }
    }
}

fn insights(v: &Value, current: (bool, bool)) -> Result<(bool, bool), ApiError> {
    let i = v["InsightsEnabled"].as_bool().unwrap_or(current.0);
    let n = v["NotificationsEnabled"].as_bool().unwrap_or(current.1);
    if n && !i {
        return Err(ApiError::invalid(
            "NotificationsEnabled needs InsightsEnabled.",
        ));
    }
    Ok((i, n))
}

pub async fn create_group(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let name = req["GroupName"].as_str().unwrap_or("");
    let filter = check_filter(st, part, req["FilterExpression"].as_str()).await?;
    let (i, n) = insights(&req["InsightsConfiguration"], (false, false))?;
    let tags = super::tags::tags_from(&req["Tags"])?;
    let arn = format!(
        "arn:aws:xray:{}:{}:group/{name}/{}",
        part.region,
        part.account,
        &super::random_id()[..26]
    );
    let group = Group {
        name: name.to_owned(),
        arn,
        filter,
        insights_enabled: i,
        notifications_enabled: n,
    };
    match super::execute(st, part, Command::CreateGroup { group, tags }).await? {
        Applied::Group(g) => Ok(json!({ "Group": group_json(&g) }).to_string()),
        other => Err(super::unexpected(other)),
    }
}

pub async fn get_group(st: &ApiState, part: &Partition, req: &Value) -> Result<String, ApiError> {
    Ok(json!({ "Group": group_json(&find(st, part, req).await?) }).to_string())
}

pub async fn get_groups(st: &ApiState, part: &Partition) -> Result<String, ApiError> {
    let mut all = vec![default_group(part)];
    all.extend(st.control.read(part, |c| c.groups.clone()).await?);
    Ok(json!({ "Groups": all.iter().map(group_json).collect::<Vec<_>>() }).to_string())
}

pub async fn update_group(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let g = find(st, part, req).await?;
    if g.name == DEFAULT_GROUP {
        return Err(ApiError::invalid("The Default group cannot be changed."));
    }
    let filter = match req.get("FilterExpression") {
        Some(Value::String(f)) => check_filter(st, part, Some(f)).await?,
        _ => g.filter.clone(),
    };
    let (i, n) = insights(
        &req["InsightsConfiguration"],
        (g.insights_enabled, g.notifications_enabled),
    )?;
    let cmd = Command::UpdateGroup {
        arn: g.arn,
        filter,
        insights_enabled: i,
        notifications_enabled: n,
    };
    match super::execute(st, part, cmd).await? {
        Applied::Group(g) => Ok(json!({ "Group": group_json(&g) }).to_string()),
        other => Err(super::unexpected(other)),
    }
}

pub async fn delete_group(
    st: &ApiState,
    part: &Partition,
    req: &Value,
) -> Result<String, ApiError> {
    let g = find(st, part, req).await?;
    if g.name == DEFAULT_GROUP {
        return Err(ApiError::invalid("The Default group cannot be deleted."));
    }
    super::execute(st, part, Command::DeleteGroup { arn: g.arn }).await?;
    Ok("{}".to_owned())
}
