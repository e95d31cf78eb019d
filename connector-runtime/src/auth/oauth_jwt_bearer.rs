//! `oauth_jwt_bearer`: an access token from the OAuth 2.0 JWT bearer grant (RFC 7523 2.1).

use connector_spec::AuthTypeId;

use super::auth_type::AuthType;

/// The `oauth_jwt_bearer` auth type.
pub struct JwtBearerType;

impl AuthType for JwtBearerType {
    fn id(&self) -> AuthTypeId {
        AuthTypeId::OauthJwtBearer
    }
}
