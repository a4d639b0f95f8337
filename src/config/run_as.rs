//! `user` and `group`: the identity a plugin runs as, resolved once, when the config is read,
//! so a missing account is a config error with a line rather than a failed spawn.
//!
//! Either key takes a name or a numeric id; a value of digits only is always an id. A numeric
//! id needs no entry in the user database (containers often run unnamed uids), but a uid
//! without an entry has no primary group, so `group` must then be given too.
//!
//! - `user` alone: the user's primary group, and the supplementary groups the user database
//!   gives it (`getgrouplist`, which includes the primary group).
//! - `user` and `group`: `group` replaces the primary group; the supplementary groups are the
//!   user's, as `initgroups(user, group)` would set them.
//! - `group` alone: only the group changes; the uid stays the exporter's.

use nix::unistd::{getgrouplist, Gid, Group, Uid, User};
use std::ffi::CString;

/// The identity to start a plugin with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// `user` as written in the config file, for messages; `None` when only `group` is set.
    pub user: Option<String>,
    /// The uid to switch to; `None` keeps the exporter's.
    pub uid: Option<u32>,
    /// The gid to switch to; always set when `uid` is.
    pub gid: Option<u32>,
    /// The supplementary groups, including `gid`; `[gid]` when only `group` is set.
    pub groups: Vec<u32>,
}

/// One problem: `"user"` or `"group"`, and what is wrong with it.
pub(crate) type RunAsProblem = (&'static str, String);

/// Resolves `user` and `group` as written; `Ok(None)` when neither is set.
pub(crate) fn resolve(
    user: Option<&str>,
    group: Option<&str>,
) -> Result<Option<RunAs>, Vec<RunAsProblem>> {
    let account = user.map(lookup_user).transpose();
    let gid = group.map(lookup_group).transpose();
    let (account, group_gid) = match (account, gid) {
        (Ok(account), Ok(gid)) => (account, gid),
        (account, gid) => {
            let user_problem = account.err().map(|why| ("user", why));
            let group_problem = gid.err().map(|why| ("group", why));
            return Err(user_problem.into_iter().chain(group_problem).collect());
        }
    };
    let account = match (account, group_gid) {
        (Some(account), _) => account,
        (None, None) => return Ok(None),
        (None, Some(gid)) => {
            return Ok(Some(RunAs {
                user: None,
                uid: None,
                gid: Some(gid),
                groups: vec![gid],
            }))
        }
    };
    let Some(gid) = group_gid.or(account.primary_gid) else {
        let why = format!(
            "uid {} has no entry in the user database, so it has no primary group: \
             set `group` as well",
            account.uid
        );
        return Err(vec![("user", why)]);
    };
    let groups = match &account.name {
        Some(name) => supplementary_groups(name, gid).map_err(|why| vec![("user", why)])?,
        None => vec![gid],
    };
    Ok(Some(RunAs {
        user: user.map(str::to_string),
        uid: Some(account.uid),
        gid: Some(gid),
        groups,
    }))
}

/// A resolved `user`.
struct Account {
    uid: u32,
    /// The primary gid from the user database; `None` for a uid without an entry.
    primary_gid: Option<u32>,
    /// The name in the user database, for `getgrouplist`.
    name: Option<String>,
}

fn lookup_user(text: &str) -> Result<Account, String> {
    let Some(id) = numeric_id("user", "uid", text)? else {
        return match User::from_name(text) {
            Ok(Some(user)) => Ok(Account {
                uid: user.uid.as_raw(),
                primary_gid: Some(user.gid.as_raw()),
                name: Some(user.name),
            }),
            Ok(None) => Err(format!(
                "user `{text}` does not exist: give an existing user name or a numeric uid"
            )),
            Err(errno) => Err(format!("cannot look up user `{text}`: {errno}")),
        };
    };
    match User::from_uid(Uid::from_raw(id)) {
        Ok(Some(user)) => Ok(Account {
            uid: id,
            primary_gid: Some(user.gid.as_raw()),
            name: Some(user.name),
        }),
        Ok(None) => Ok(Account {
            uid: id,
            primary_gid: None,
            name: None,
        }),
        Err(errno) => Err(format!("cannot look up uid {id}: {errno}")),
    }
}

fn lookup_group(text: &str) -> Result<u32, String> {
    if let Some(id) = numeric_id("group", "gid", text)? {
        return Ok(id);
    }
    match Group::from_name(text) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        Ok(None) => Err(format!(
            "group `{text}` does not exist: give an existing group name or a numeric gid"
        )),
        Err(errno) => Err(format!("cannot look up group `{text}`: {errno}")),
    }
}

/// `Some(id)` for a value of digits only, `None` for a name.
fn numeric_id(key: &str, kind: &str, text: &str) -> Result<Option<u32>, String> {
    if text.is_empty() {
        return Err(format!(
            "{key} must not be empty: give a name or a numeric {kind}"
        ));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match text.parse::<u32>() {
        // (uid_t)-1 means "leave unchanged" to setresuid and setresgid: never a real id.
        Ok(id) if id != u32::MAX => Ok(Some(id)),
        _ => Err(format!(
            "{kind} `{text}` is out of range: ids go from 0 to {}",
            u32::MAX - 1
        )),
    }
}

fn supplementary_groups(name: &str, gid: u32) -> Result<Vec<u32>, String> {
    let shown = || format!("cannot list the groups of user `{name}`");
    let c_name = CString::new(name).map_err(|_| format!("{}: name contains NUL", shown()))?;
    let groups = getgrouplist(&c_name, Gid::from_raw(gid))
        .map_err(|errno| format!("{}: {errno}", shown()))?;
    Ok(groups.into_iter().map(Gid::as_raw).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A uid and gid with no entry: the tests check that the database agrees.
    const UNNAMED: u32 = 3_999_999_991;

    #[test]
    fn root_by_name_and_by_number() {
        let by_name = resolve(Some("root"), None).unwrap().unwrap();
        assert_eq!(by_name.user.as_deref(), Some("root"));
        assert_eq!((by_name.uid, by_name.gid), (Some(0), Some(0)));
        assert!(by_name.groups.contains(&0), "{by_name:?}");
        let by_number = resolve(Some("0"), None).unwrap().unwrap();
        assert_eq!(by_number.user.as_deref(), Some("0"));
        assert_eq!(
            (by_number.uid, by_number.gid, &by_number.groups),
            (Some(0), Some(0), &by_name.groups)
        );
    }

    #[test]
    fn group_replaces_the_primary_group() {
        let run_as = resolve(Some("root"), Some("1234")).unwrap().unwrap();
        assert_eq!((run_as.uid, run_as.gid), (Some(0), Some(1234)));
        assert!(run_as.groups.contains(&1234), "{run_as:?}");
        let only_group = resolve(None, Some("0")).unwrap().unwrap();
        assert_eq!(
            only_group,
            RunAs {
                user: None,
                uid: None,
                gid: Some(0),
                groups: vec![0]
            }
        );
        assert_eq!(resolve(None, None), Ok(None));
    }

    #[test]
    fn unnamed_uids_need_a_group() {
        assert_eq!(User::from_uid(Uid::from_raw(UNNAMED)), Ok(None));
        let text = UNNAMED.to_string();
        let problems = resolve(Some(&text), None).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "user");
        assert!(
            problems[0].1.contains("set `group` as well"),
            "{problems:?}"
        );
        let run_as = resolve(Some(&text), Some(&text)).unwrap().unwrap();
        assert_eq!(run_as.uid, Some(UNNAMED));
        assert_eq!(run_as.gid, Some(UNNAMED));
        assert_eq!(run_as.groups, [UNNAMED]);
    }

    #[test]
    fn every_bad_value_is_reported() {
        let problems = resolve(Some("no-such-user-x7"), Some("no-such-group-x7")).unwrap_err();
        assert_eq!(
            problems,
            [
                (
                    "user",
                    "user `no-such-user-x7` does not exist: give an existing user name or a \
                     numeric uid"
                        .to_string()
                ),
                (
                    "group",
                    "group `no-such-group-x7` does not exist: give an existing group name or a \
                     numeric gid"
                        .to_string()
                ),
            ]
        );
        for bad in ["", "4294967295", "99999999999"] {
            let problems = resolve(Some(bad), None).unwrap_err();
            assert_eq!(problems[0].0, "user", "{bad:?}");
            let problems = resolve(None, Some(bad)).unwrap_err();
            assert_eq!(problems[0].0, "group", "{bad:?}");
        }
    }
}
