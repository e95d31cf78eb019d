//! A fresh PostgreSQL database per test: [`TestDatabase`] creates
//! `connector_test_<pid>_<n>_<random>` on the server of `CONNECTOR_TEST_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`) and drops it when dropped, on a
//! thread of its own with its own runtime, so a test that fails still drops its database.
//! A server that cannot be reached fails the test; nothing is skipped.

use std::sync::atomic::{AtomicUsize, Ordering};

use connector_runtime::store::postgres::{create_database, database_url, drop_database};

pub const URL_ENV: &str = "CONNECTOR_TEST_DATABASE_URL";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The server's admin URL.
pub fn admin_url() -> String {
    std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// A database of its own, dropped (`WITH (FORCE)`) when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    admin: String,
    name: String,
    /// The URL of the database.
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let admin = admin_url();
        let name = format!(
            "connector_test_{}_{}_{:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        if let Err(e) = create_database(&admin, &name).await {
            panic!(
                "cannot create a test database on PostgreSQL at {admin} ({e}): start PostgreSQL \
                 or set {URL_ENV} to a server this test may create databases on"
            );
        }
        let url = database_url(&admin, &name).unwrap();
        TestDatabase { admin, name, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(drop_database(&admin, &name))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("dropping test database {} panicked", self.name),
        }
    }
}
