//! The management API walkthrough: list users, create one and update it; list, create and update
//! organizations; list and create roles; list and create feature flags; then clean up.
//!
//! Against `portcullis dev` (its demo tenant has a management application; the command prints
//! its id and secret) or Kinde (an M2M application authorized for the management API):
//!
//! ```console
//! $ PORTCULLIS_ISSUER=http://localhost:8080 PORTCULLIS_CLIENT_ID=demo-admin \
//!   PORTCULLIS_CLIENT_SECRET=demo-admin-secret-change-me-0123456789 \
//!   cargo run -p portcullis --example management
//! ```

use futures_util::TryStreamExt;
use portcullis::Config;
use portcullis::management::{
    ManagementClient, PageRequest, UpdateFeatureFlag, UpdateOrganization, UpdateRole, UpdateUser,
    UsersQuery,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = ManagementClient::new(&Config::from_env()?)?;
    println!("management API at {}", client.base_url());

    // Users.
    let page = client.get_users(5).await?;
    println!("first {} users:", page.items.len());
    for user in &page.items {
        println!("  {} {}", user.id, user.email().unwrap_or("-"));
    }
    let all: Vec<_> = client.users(UsersQuery::new()).try_collect().await?;
    println!("{} users in all", all.len());
    let user = client
        .create_user("Walk", "Through", "walkthrough@example.com")
        .await?;
    client
        .update_user(&user.id, &UpdateUser::new().given_name("Walker"))
        .await?;
    println!("created and renamed user {}", user.id);

    // Organizations.
    let orgs = client.get_organizations(PageRequest::of_size(10)).await?;
    println!("{} organizations on the first page", orgs.items.len());
    let org = client.create_organization("Walkthrough Inc").await?;
    client
        .update_organization(
            &org.code,
            &UpdateOrganization::new().name("Walkthrough Ltd"),
        )
        .await?;
    println!("created and renamed organization {}", org.code);

    // Roles.
    let roles = client.get_roles(PageRequest::new()).await?;
    println!("{} roles on the first page", roles.items.len());
    let role = client
        .create_role("Walker", "Walks through", "walker")
        .await?;
    client
        .update_role(
            &role.id,
            &UpdateRole::new().description("Walks through things"),
        )
        .await?;
    println!("created role {}", role.id);

    // Feature flags.
    let flags = client.get_feature_flags().await?;
    println!(
        "{} feature flags: {:?}",
        flags.len(),
        flags.keys().collect::<Vec<_>>()
    );
    client
        .create_feature_flag("walkthrough", "Walkthrough", false)
        .await?;
    client
        .update_feature_flag("walkthrough", &UpdateFeatureFlag::new("Walkthrough", true)?)
        .await?;
    println!("created feature flag walkthrough");

    // Clean up.
    client.delete_feature_flag("walkthrough").await?;
    client.delete_role(&role.id).await?;
    client.delete_organization(&org.code).await?;
    client.delete_user(&user.id).await?;
    println!("cleaned up");
    Ok(())
}
