//! `connector users`: the server's users and their named API keys, on the server's store
//! (the data directory's file, or `--database-url`). Everything but `remove` needs no operator key (nothing sealed is touched); `remove`
//! also deletes the user's per-user tokens, so it opens the full store with the operator key,
//! as `connector serve` does. Every change is recorded in the audit trail with the actor `cli`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use connector_runtime::store::{
    ApiKey, AuditStore, DEFAULT_KEY_NAME, ExposeSecret, StoreError, Stores, Timestamp, UserDb,
    UserStore, parse_key_lifetime,
};
use connector_server::OutboundPolicy;
use connector_server::audit::{Audit, CLI_ACTOR, store_outcome};
use connector_server::removal::{Disconnected, disconnect_everywhere, offline_flows};

use super::store_args::StoreArgs;
use crate::Outcome;

const EXPIRES_HELP: &str = "Key lifetime: a whole number (no leading zero) and d, h, m or s \
    (e.g. 90d, 12h), at most 3650d. Once it has passed the key is refused. Default: the key does \
    not expire";

fn lifetime(text: &str) -> Result<Duration, String> {
    parse_key_lifetime(text).map_err(|e| e.to_string())
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add a user and print their API key (key name `default`; shown once, only its hash is
    /// stored)
    Add {
        /// User name: letters, digits, `-`, `_`, `.`, `@`
        #[arg(value_name = "NAME")]
        name: String,
        /// May create, change and delete connector instances, and manage users
        #[arg(long)]
        admin: bool,
        #[arg(long, value_name = "LIFETIME", value_parser = lifetime, help = EXPIRES_HELP)]
        expires: Option<Duration>,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// List users (names, ids, roles, disabled; never keys)
    List {
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Remove a user, their keys and their per-user tokens: each token is revoked at the
    /// provider where the connector can revoke (the server's specs say how), then deleted.
    /// Needs the operator key
    Remove {
        /// The user's name
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        at: StoreArgs,
        #[command(flatten)]
        revoke: RevokeArgs,
    },
    /// Disable a user: every key of theirs is refused (401) until `enable`
    Disable {
        /// The user's name
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Enable a disabled user: their keys work again (those not expired)
    Enable {
        /// The user's name
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Replace one of a user's keys and print the new one (shown once); the old key is
    /// refused at once
    RotateKey {
        /// The user's name
        #[arg(value_name = "NAME")]
        name: String,
        /// Which key to replace
        #[arg(long = "key", value_name = "KEY_NAME", default_value = DEFAULT_KEY_NAME)]
        key_name: String,
        #[arg(long, value_name = "LIFETIME", value_parser = lifetime, help = EXPIRES_HELP)]
        expires: Option<Duration>,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// A user's named keys: add, list, remove
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Add a named key to a user and print it (shown once)
    Add {
        /// The user's name
        #[arg(value_name = "NAME")]
        name: String,
        /// The key's name: letters, digits, `-`, `_`, `.` (unique per user)
        #[arg(long, value_name = "KEY_NAME")]
        key_name: String,
        #[arg(long, value_name = "LIFETIME", value_parser = lifetime, help = EXPIRES_HELP)]
        expires: Option<Duration>,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// List a user's keys: name, created, expires, last used (UTC; last use is recorded at
    /// most once a minute). Never a key or hash
    List {
        /// The user's name
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        at: StoreArgs,
    },
    /// Remove one of a user's keys; it is refused at once
    Remove {
        /// The user's name
        #[arg(value_name = "NAME")]
        name: String,
        /// The name of the key to remove (see `keys list`)
        #[arg(value_name = "KEY_NAME")]
        key_name: String,
        #[command(flatten)]
        at: StoreArgs,
    },
}

pub async fn users(cmd: UsersCommand) -> anyhow::Result<Outcome> {
    match cmd {
        UsersCommand::Add {
            name,
            admin,
            expires,
            at,
        } => {
            let store = open_users(&at).await?;
            let r = store.users.add_user(&name, admin, expiry(expires)).await;
            let r = audited(&*store.audit, "user.add", &name, r).await;
            store.close().await;
            let (user, key) = r?;
            eprintln!(
                "added {} `{}` (id {}). The API key below is shown only this once:",
                if user.admin { "admin" } else { "user" },
                user.name,
                user.id
            );
            print_key(&key);
        }
        UsersCommand::List { at } => {
            let store = open_existing(&at).await?;
            let list = store.users.list_users().await;
            store.close().await;
            let list = list?;
            for u in list {
                let role = if u.admin { "admin" } else { "user" };
                let state = if u.disabled { "\tdisabled" } else { "" };
                println!("{}\t{}\t{role}{state}", u.name, u.id);
            }
        }
        UsersCommand::Remove { name, at, revoke } => remove(&name, &at, revoke).await?,
        UsersCommand::Disable { name, at } => {
            let n = &name;
            change(&at, "user.disable", n, |s| async move {
                s.set_disabled(n, true).await
            })
            .await?;
            eprintln!(
                "disabled `{name}`: their keys are refused until `connector users enable {name}`"
            );
        }
        UsersCommand::Enable { name, at } => {
            let n = &name;
            change(&at, "user.enable", n, |s| async move {
                s.set_disabled(n, false).await
            })
            .await?;
            eprintln!("enabled `{name}`");
        }
        UsersCommand::RotateKey {
            name,
            key_name,
            expires,
            at,
        } => {
            let (n, k) = (&name, &key_name);
            let key = change(&at, "key.rotate", &format!("{n}/{k}"), |s| async move {
                s.rotate_key(n, k, expiry(expires)).await
            })
            .await?;
            eprintln!(
                "rotated key `{key_name}` of `{name}`: the old key is refused from now on. \
                 The new key below is shown only this once:"
            );
            print_key(&key);
        }
        UsersCommand::Keys(cmd) => keys(cmd).await?,
    }
    Ok(Outcome::Success)
}

async fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Add {
            name,
            key_name,
            expires,
            at,
        } => {
            let (n, k) = (&name, &key_name);
            let key = change(&at, "key.add", &format!("{n}/{k}"), |s| async move {
                s.add_key(n, k, expiry(expires)).await
            })
            .await?;
            eprintln!("added key `{key_name}` to `{name}`. It is shown only this once:");
            print_key(&key);
        }
        KeysCommand::List { name, at } => {
            let store = open_existing(&at).await?;
            let r = store.users.list_keys(&name).await;
            store.close().await;
            println!("NAME\tCREATED\tEXPIRES\tLAST USED");
            for k in r? {
                println!(
                    "{}\t{}\t{}\t{}",
                    k.name,
                    when(Some(k.created_at)),
                    when(k.expires_at),
                    when(k.last_used_at)
                );
            }
        }
        KeysCommand::Remove { name, key_name, at } => {
            let (n, k) = (&name, &key_name);
            change(&at, "key.remove", &format!("{n}/{k}"), |s| async move {
                s.remove_key(n, k).await
            })
            .await?;
            eprintln!("removed key `{key_name}` of `{name}`: it is refused from now on");
        }
    }
    Ok(())
}

/// How `remove` reaches the providers to revoke a user's tokens: as `connector serve` would.
#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    /// The server's spec files or folder (the connector types of its instances)
    #[arg(long, value_name = "PATH", default_value = "specs")]
    specs: PathBuf,
    /// Allow revocation requests to loopback addresses (as `serve --allow-loopback`)
    #[arg(long)]
    allow_loopback: bool,
    /// Hosts revocation requests may go to (as `serve --allow-host`; repeatable)
    #[arg(long = "allow-host", value_name = "PATTERN", default_value = "*")]
    allow_hosts: Vec<String>,
    /// Delete the tokens without asking the providers to revoke them (when the specs are
    /// not at hand)
    #[arg(long)]
    no_revoke: bool,
}

/// Remove a user with the full store: their tokens are revoked (unless `--no-revoke`) and
/// deleted, then the user and their keys go, and they leave every access list.
async fn remove(name: &str, at: &StoreArgs, revoke: RevokeArgs) -> anyhow::Result<()> {
    let db = at.existing("users")?;
    let store = at.open_all(&db).await?;
    let r = remove_in(&store.stores, at, name, &revoke).await;
    store.close().await;
    let d = r?;
    eprintln!(
        "removed `{name}`, their keys and {} per-user token(s); {} revoked at the provider",
        d.deleted, d.revoked
    );
    for f in &d.failures {
        eprintln!("warning: {f} (the token is deleted here all the same)");
    }
    Ok(())
}

async fn remove_in(
    stores: &Stores,
    at: &StoreArgs,
    name: &str,
    revoke: &RevokeArgs,
) -> anyhow::Result<Disconnected> {
    let user = stores
        .users
        .get_user(name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user named `{name}` (`connector users list`)"))?;
    let mut d = Disconnected::default();
    if revoke.no_revoke {
        d.deleted = stores.tokens.list_user_tokens(&user.id).await?.len() as u64;
    } else {
        let mut config = at.config();
        config.specs = revoke.specs.clone();
        config.outbound = OutboundPolicy {
            allowed_hosts: revoke.allow_hosts.clone(),
            allow_loopback: revoke.allow_loopback,
        };
        let (flows, skipped) = offline_flows(&config, stores).await.map_err(|e| {
            anyhow::anyhow!("{e}; pass the server's --specs, or --no-revoke to delete the tokens without revoking them")
        })?;
        for s in skipped {
            eprintln!("warning: instance {s}: its tokens are deleted without revocation");
        }
        d = disconnect_everywhere(&flows, &*stores.tokens, &user.id).await?;
    }
    let removed = stores.users.remove_user(name).await;
    audited(&*stores.audit, "user.remove", name, removed).await?;
    stores.instances.revoke_access(&user.id).await?;
    Ok(d)
}

/// One change to the users of an existing store, recorded in the audit trail.
async fn change<T, Fut>(
    at: &StoreArgs,
    operation: &'static str,
    target: &str,
    f: impl FnOnce(Arc<dyn UserStore>) -> Fut,
) -> anyhow::Result<T>
where
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let store = open_existing(at).await?;
    let r = f(Arc::clone(&store.users)).await;
    let r = audited(&*store.audit, operation, target, r).await;
    store.close().await;
    r
}

/// Record a change made here in the audit trail (actor `cli`), then give its result back
/// with the store's message.
async fn audited<T>(
    audits: &dyn AuditStore,
    operation: &'static str,
    target: &str,
    r: Result<T, StoreError>,
) -> anyhow::Result<T> {
    let audit = Audit::new(operation).actor_name(CLI_ACTOR).target(target);
    match r {
        Ok(v) => {
            audit.finish_with(audits, "ok", None).await;
            Ok(v)
        }
        Err(e) => {
            let message = e.to_string();
            let (outcome, code) = store_outcome(e);
            audit.finish_with(audits, outcome, Some(&code)).await;
            Err(anyhow::anyhow!(message))
        }
    }
}

fn expiry(lifetime: Option<Duration>) -> Option<Timestamp> {
    lifetime.map(|d| Timestamp::now().plus(d))
}

fn print_key(key: &ApiKey) {
    println!("{}", key.key.expose_secret());
}

/// A time as `YYYY-MM-DD HH:MM:SS UTC`, or `never` for none.
fn when(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "never".to_string(), super::auth::format_time)
}

async fn open_existing(at: &StoreArgs) -> anyhow::Result<UserDb> {
    let db = at.existing("users")?;
    at.open_users(&db).await
}

async fn open_users(at: &StoreArgs) -> anyhow::Result<UserDb> {
    let db = at.database()?;
    at.open_users(&db).await
}
