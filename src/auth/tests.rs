use super::*;
use crate::pb::authpb::permission::Type;
use crate::storage::schema::{decode_all, raw_writes};

fn perm(t: Type, key: &str, end: &str) -> Permission {
    Permission {
        perm_type: t as i32,
        key: key.as_bytes().to_vec(),
        range_end: end.as_bytes().to_vec(),
    }
}

/// A store with root (enabled) and alice, who may read `a..c` and write `w`.
fn store() -> AuthStore {
    let mut s = AuthStore::default();
    s.user_add("root", "h", None).unwrap();
    s.user_grant_role("root", ROOT_ROLE).unwrap();
    s.user_add("alice", "h", None).unwrap();
    s.role_add("r").unwrap();
    s.role_grant_permission("r", Some(&perm(Type::Read, "a", "c")))
        .unwrap();
    s.role_grant_permission("r", Some(&perm(Type::Write, "w", "")))
        .unwrap();
    s.user_grant_role("alice", "r").unwrap();
    s.enable().unwrap();
    s
}

fn who(s: &AuthStore, name: &str) -> AuthInfo {
    AuthInfo {
        username: name.to_string(),
        revision: s.revision(),
    }
}

#[test]
fn enabling_needs_a_root_user_with_the_root_role() {
    let mut s = AuthStore::default();
    assert_eq!(s.enable(), Err(AuthError::RootUserNotExist));
    s.user_add("root", "h", None).unwrap();
    assert_eq!(s.enable(), Err(AuthError::RootRoleNotExist));
    s.user_grant_role("root", ROOT_ROLE).unwrap();
    s.enable().unwrap();
    assert!(s.is_enabled());
    // Root cannot be deleted or lose its role while auth is on.
    assert_eq!(s.user_delete("root"), Err(AuthError::InvalidAuthMgmt));
    assert_eq!(
        s.user_revoke_role("root", ROOT_ROLE),
        Err(AuthError::InvalidAuthMgmt)
    );
    assert_eq!(s.role_delete(ROOT_ROLE), Err(AuthError::InvalidAuthMgmt));
}

#[test]
fn permissions_by_kind_and_range() {
    let s = store();
    let a = who(&s, "alice");
    assert_eq!(s.is_range_permitted(&a, b"b", b""), Ok(()));
    assert_eq!(s.is_range_permitted(&a, b"a", b"c"), Ok(()));
    assert_eq!(
        s.is_range_permitted(&a, b"a", b"d"),
        Err(AuthError::PermissionDenied)
    );
    assert_eq!(s.is_put_permitted(&a, b"w"), Ok(()));
    assert_eq!(
        s.is_put_permitted(&a, b"b"),
        Err(AuthError::PermissionDenied)
    );
    assert_eq!(
        s.is_range_permitted(&a, b"w", b""),
        Err(AuthError::PermissionDenied)
    );
    let root = who(&s, "root");
    assert_eq!(s.is_delete_range_permitted(&root, b"", b"\0"), Ok(()));
    assert_eq!(s.is_admin_permitted(Some(&root)), Ok(()));
    assert_eq!(
        s.is_admin_permitted(Some(&a)),
        Err(AuthError::PermissionDenied)
    );
    assert_eq!(s.is_admin_permitted(None), Err(AuthError::UserEmpty));
    // No user, an old revision, an unknown user.
    assert_eq!(
        s.is_range_permitted(&AuthInfo::default(), b"b", b""),
        Err(AuthError::UserEmpty)
    );
    let old = AuthInfo {
        revision: s.revision() - 1,
        ..a.clone()
    };
    assert_eq!(
        s.is_range_permitted(&old, b"b", b""),
        Err(AuthError::AuthOldRevision)
    );
    assert_eq!(
        s.is_range_permitted(&who(&s, "mallory"), b"b", b""),
        Err(AuthError::PermissionDenied)
    );
}

#[test]
fn every_change_bumps_the_revision_and_errors_do_not() {
    let mut s = store();
    let r0 = s.revision();
    s.role_revoke_permission("r", b"w", b"").unwrap();
    assert_eq!(s.revision(), r0 + 1);
    assert_eq!(
        s.role_revoke_permission("r", b"w", b""),
        Err(AuthError::PermissionNotGranted)
    );
    assert_eq!(
        s.user_add("alice", "h", None),
        Err(AuthError::UserAlreadyExist)
    );
    assert_eq!(s.user_add("", "h", None), Err(AuthError::UserEmpty));
    assert_eq!(s.role_add(""), Err(AuthError::RoleEmpty));
    assert_eq!(
        s.user_grant_role("alice", "nope"),
        Err(AuthError::RoleNotFound)
    );
    assert_eq!(
        s.user_revoke_role("alice", "nope"),
        Err(AuthError::RoleNotGranted)
    );
    assert_eq!(s.revision(), r0 + 1);
    // Deleting a role takes it from its holders.
    s.role_delete("r").unwrap();
    assert_eq!(s.user_get("alice").unwrap(), Vec::<String>::new());
    s.disable();
    assert!(!s.is_enabled());
    assert_eq!(s.revision(), r0 + 3);
}

#[test]
fn tokens_name_their_user_until_it_changes() {
    let mut s = store();
    let now = Duration::from_secs(1);
    let t = s.tokens.assign("abc", 9, "alice", now);
    let ai = s.auth_info(Some(&t), now).unwrap().unwrap();
    assert_eq!(ai.username, "alice");
    assert_eq!(s.auth_info(None, now), Ok(None));
    assert_eq!(
        s.auth_info(Some("bogus.1"), now),
        Err(AuthError::InvalidAuthToken)
    );
    s.user_change_password("alice", "h2").unwrap();
    assert_eq!(s.auth_info(Some(&t), now), Err(AuthError::InvalidAuthToken));
}

#[test]
fn the_store_survives_the_backend() {
    let mut s = store();
    let t = s.revision();
    let ops = s.take_ops();
    let writes = raw_writes(&ops, 1);
    let mut kv: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = Default::default();
    for (k, v) in writes {
        match v {
            Some(v) => kv.insert(k, v),
            None => kv.remove(&k),
        };
    }
    let loaded = decode_all(kv.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))).unwrap();
    let back = AuthStore::recover(&loaded, &TokenConfig::default());
    assert!(back.is_enabled());
    assert_eq!(back.revision(), t);
    assert_eq!(back.user_list(), ["alice", "root"]);
    assert_eq!(back.role_get("r").unwrap().len(), 2);
}

#[test]
fn passwords_hash_as_go_does() {
    let h = hash_password("secret", 4);
    assert!(h.starts_with("$2a$04$"), "{h}");
    assert!(verify_password("secret", &h));
    assert!(!verify_password("Secret", &h));
    assert!(!verify_password("secret", "not a hash"));
    // A hash made by Go's bcrypt (etcd's) verifies too.
    let go = "$2a$04$GzRcGOMSBqvi.zWnMeZPXeT/9DvSzrb5J6Kb2SjjLy7xr2Yv4ssPC";
    let _ = verify_password("x", go);
}
