//! `fresh_database`: each call is a new, empty database on one server, isolated from the others.

use sqlx::{Connection, PgConnection, Row};
use usdt_checkout_testkit::fresh_database;

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

/// Whether `table` exists in the database `connection` is on.
async fn has_table(connection: &mut PgConnection, table: &str) -> bool {
    sqlx::query("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(connection)
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn each_database_is_new_and_apart() {
    let (a, b) = (fresh_database("apart").await, fresh_database("apart").await);
    assert_ne!(a, b);
    // The same server: only the database differs.
    assert_eq!(a.rsplit_once('/').unwrap().0, b.rsplit_once('/').unwrap().0);

    let mut in_a = connect(&a).await;
    let mut in_b = connect(&b).await;
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut in_a)
        .await
        .unwrap();
    assert_eq!(one, 1);

    assert!(
        !has_table(&mut in_a, "orders").await,
        "a fresh database is empty"
    );
    sqlx::raw_sql("CREATE TABLE orders (id bigint PRIMARY KEY); INSERT INTO orders VALUES (1)")
        .execute(&mut in_a)
        .await
        .unwrap();
    assert!(has_table(&mut in_a, "orders").await);
    assert!(
        !has_table(&mut in_b, "orders").await,
        "{b} sees {a}'s table"
    );
}

/// Tests run in parallel, each on its own tokio runtime: they share the one server.
#[tokio::test]
#[ignore = "starts processes: cargo xtask test runs it"]
async fn parallel_tests_share_the_server() {
    let url = fresh_database("parallel").await;
    let mut connection = connect(&url).await;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    // The URL's path, before any query a DATABASE_URL brought along.
    let path = url.rsplit_once('/').unwrap().1;
    assert_eq!(path.split('?').next().unwrap(), database);
}
