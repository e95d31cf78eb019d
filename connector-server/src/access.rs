//! Who may use which connector instance.
//!
//! An instance's access list ([`ConnectorInstanceRecord::access`]) names the users who may see,
//! run, test and connect it; `None` (the default) is every user. Admins may always use every
//! instance: they create and configure them. A user outside the list gets 404 for the
//! instance, the same answer as for an instance that does not exist, and does not see it in
//! listings. The list holds user ids, so a user removed and added again under the same name
//! does not inherit the old access; the API speaks user names and converts at its edge.

use std::collections::HashMap;

use connector_runtime::store::{ConnectorInstanceRecord, User, UserStore};

use crate::error::{ApiError, AppResult};

/// At most this many users on one instance's access list.
pub const MAX_ACCESS_USERS: usize = 1000;

/// Whether `user` may use the instance `record`.
pub fn may_use(user: &User, record: &ConnectorInstanceRecord) -> bool {
    user.admin
        || record
            .access
            .as_ref()
            .is_none_or(|ids| ids.contains(&user.id))
}

/// The user ids of `names`, in order, without repeats. An unknown name is a 400 that names it.
pub async fn ids_of(users: &dyn UserStore, names: &[String]) -> AppResult<Vec<String>> {
    if names.len() > MAX_ACCESS_USERS {
        return Err(ApiError::bad_request(
            "invalid_access",
            format!("`access` lists at most {MAX_ACCESS_USERS} users"),
        ));
    }
    let by_name: HashMap<String, String> = users
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.name, u.id))
        .collect();
    let mut ids: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let id = by_name.get(name).ok_or_else(|| {
            ApiError::bad_request(
                "unknown_user",
                format!(
                    "`access` names user `{name}`, who does not exist (`connector users list` \
                     shows the users)"
                ),
            )
        })?;
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    Ok(ids)
}

/// The names of the users `ids` names, for a view; ids of users that no longer exist are left
/// out (their access went with them).
pub fn names_of(users: &[User], ids: &[String]) -> Vec<String> {
    ids.iter()
        .filter_map(|id| users.iter().find(|u| u.id == *id).map(|u| u.name.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_runtime::Secrets;
    use connector_runtime::store::Timestamp;
    use connector_spec::{AuthMode, AuthTypeId};

    fn user(id: &str, admin: bool) -> User {
        User {
            id: id.into(),
            name: id.trim_start_matches("u_").into(),
            admin,
            disabled: false,
        }
    }

    fn record(access: Option<Vec<String>>) -> ConnectorInstanceRecord {
        ConnectorInstanceRecord {
            id: "jira-prod".into(),
            connector_type: ".jira".into(),
            name: "Jira".into(),
            auth_type: AuthTypeId::Basic,
            auth_mode: AuthMode::Shared,
            config: serde_json::json!({}),
            secrets: Secrets::default(),
            access,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[test]
    fn no_list_is_everyone_a_list_is_its_users_and_admins() {
        let alice = user("u_alice", false);
        let bob = user("u_bob", false);
        let admin = user("u_root", true);
        assert!(may_use(&bob, &record(None)));
        let only_alice = record(Some(vec!["u_alice".into()]));
        assert!(may_use(&alice, &only_alice));
        assert!(!may_use(&bob, &only_alice));
        assert!(may_use(&admin, &only_alice));
        assert!(!may_use(&alice, &record(Some(vec![]))));
    }

    #[test]
    fn names_of_drops_users_that_are_gone() {
        let users = vec![user("u_alice", false)];
        assert_eq!(
            names_of(&users, &["u_gone".into(), "u_alice".into()]),
            vec!["alice".to_string()]
        );
    }
}
