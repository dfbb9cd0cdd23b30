//! Groups: a name and a filter expression that scopes the service graph and statistics.
//! The built-in `Default` group holds every trace and cannot be changed or deleted.

use super::ApiState;
use super::error::ApiError;
use super::types::{
    self, CreateGroupRequest, CreateGroupResult, DeleteGroupRequest, GetGroupRequest,
    GetGroupResult, GetGroupsResult, GroupSummary, InsightsConfiguration, UpdateGroupRequest,
    UpdateGroupResult,
};
use crate::control::{Applied, Command, DEFAULT_GROUP, Group};
use crate::store::Partition;

fn default_arn(part: &Partition) -> String {
    format!(
        "arn:aws:xray:{}:{}:group/{DEFAULT_GROUP}",
        part.region, part.account
    )
}

fn insights_of(g: &Group) -> Option<InsightsConfiguration> {
    Some(InsightsConfiguration {
        insights_enabled: Some(g.insights_enabled),
        notifications_enabled: Some(g.notifications_enabled),
    })
}

fn group_out(g: Group) -> types::Group {
    types::Group {
        insights_configuration: insights_of(&g),
        group_name: Some(g.name),
        group_arn: Some(g.arn),
        filter_expression: g.filter,
    }
}

fn group_summary(g: Group) -> GroupSummary {
    GroupSummary {
        insights_configuration: insights_of(&g),
        group_name: Some(g.name),
        group_arn: Some(g.arn),
        filter_expression: g.filter,
    }
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
pub async fn find(
    st: &ApiState,
    part: &Partition,
    name: Option<&str>,
    arn: Option<&str>,
) -> Result<Group, ApiError> {
    let groups = st.control.read(part, |c| c.groups.clone()).await?;
    find_in(&groups, part, name, arn)
}

/// The group named by `name` or `arn` (one of them) among the partition's `groups`.
pub fn find_in(
    groups: &[Group],
    part: &Partition,
    name: Option<&str>,
    arn: Option<&str>,
) -> Result<Group, ApiError> {
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

/// The insights flags a request asks for; what it leaves out stays as `current`.
fn insights(
    v: Option<&InsightsConfiguration>,
    current: (bool, bool),
) -> Result<(bool, bool), ApiError> {
    let i = v.and_then(|c| c.insights_enabled).unwrap_or(current.0);
    let n = v.and_then(|c| c.notifications_enabled).unwrap_or(current.1);
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
    req: CreateGroupRequest,
) -> Result<String, ApiError> {
    let name = req.group_name;
    let filter = check_filter(st, part, req.filter_expression.as_deref()).await?;
    let (i, n) = insights(req.insights_configuration.as_ref(), (false, false))?;
    let tags = super::tags::tags_from(req.tags.unwrap_or_default())?;
    let arn = format!(
        "arn:aws:xray:{}:{}:group/{name}/{}",
        part.region,
        part.account,
        &super::random_id()[..26]
    );
    let group = Group {
        name,
        arn,
        filter,
        insights_enabled: i,
        notifications_enabled: n,
    };
    match super::execute(st, part, Command::CreateGroup { group, tags }).await? {
        Applied::Group(g) => super::answer(&CreateGroupResult {
            group: Some(group_out(g)),
        }),
        other => Err(super::unexpected(other)),
    }
}

pub async fn get_group(
    st: &ApiState,
    part: &Partition,
    req: GetGroupRequest,
) -> Result<String, ApiError> {
    let g = find(
        st,
        part,
        req.group_name.as_deref(),
        req.group_arn.as_deref(),
    )
    .await?;
    super::answer(&GetGroupResult {
        group: Some(group_out(g)),
    })
}

/// Every group on one page, `Default` first.
pub async fn get_groups(st: &ApiState, part: &Partition) -> Result<String, ApiError> {
    let mut all = vec![default_group(part)];
    all.extend(st.control.read(part, |c| c.groups.clone()).await?);
    super::answer(&GetGroupsResult {
        groups: Some(all.into_iter().map(group_summary).collect()),
        next_token: None,
    })
}

pub async fn update_group(
    st: &ApiState,
    part: &Partition,
    req: UpdateGroupRequest,
) -> Result<String, ApiError> {
    let g = find(
        st,
        part,
        req.group_name.as_deref(),
        req.group_arn.as_deref(),
    )
    .await?;
    if g.name == DEFAULT_GROUP {
        return Err(ApiError::invalid("The Default group cannot be changed."));
    }
    let filter = match req.filter_expression.as_deref() {
        Some(f) => check_filter(st, part, Some(f)).await?,
        None => g.filter.clone(),
    };
    let (i, n) = insights(
        req.insights_configuration.as_ref(),
        (g.insights_enabled, g.notifications_enabled),
    )?;
    let cmd = Command::UpdateGroup {
        arn: g.arn,
        filter,
        insights_enabled: i,
        notifications_enabled: n,
    };
    match super::execute(st, part, cmd).await? {
        Applied::Group(g) => super::answer(&UpdateGroupResult {
            group: Some(group_out(g)),
        }),
        other => Err(super::unexpected(other)),
    }
}

pub async fn delete_group(
    st: &ApiState,
    part: &Partition,
    req: DeleteGroupRequest,
) -> Result<String, ApiError> {
    let g = find(
        st,
        part,
        req.group_name.as_deref(),
        req.group_arn.as_deref(),
    )
    .await?;
    if g.name == DEFAULT_GROUP {
        return Err(ApiError::invalid("The Default group cannot be deleted."));
    }
    super::execute(st, part, Command::DeleteGroup { arn: g.arn }).await?;
    Ok("{}".to_owned())
}
