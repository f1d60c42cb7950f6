// Optional (signInRedirectUris set): the Entra application users sign in to Guacamole with, for the
// stacks' `access.clientId` (README "Signing in"). Guacamole 1.6.0's OpenID extension asks the
// tenant's authorization endpoint for an ID token directly (response_type=id_token, the implicit
// flow), so the application issues ID tokens from that endpoint, lists each stack's
// https://{hostname}/ as a web redirect URI, and puts the user's security group object ids in the
// `groups` claim, which Jumpgate maps to Guacamole user groups. It asks for the OpenID Connect
// scopes only (openid, profile, email: delegated, no admin-only permission); where users may not
// consent to apps themselves, a tenant admin grants them once (README). Like the alerts
// application, it needs a deployer who may register applications.
extension 'br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0'

param resourceToken string
param environmentName string
@description('The stacks\' sign-in addresses, https://{hostname}/ each (comma-separated).')
param redirectUris string

var uris = map(filter(split(redirectUris, ','), u => !empty(trim(u))), u => trim(u))
// Microsoft Graph and its OpenID Connect delegated permissions (scopes)
var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'
var openidScope = '37f7f235-527c-4136-accd-4a02d197296e'
var profileScope = '14dad69e-099b-42c9-810b-d002981feec1'
var emailScope = '64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0'

resource signInApp 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: 'jumpgate-sign-in-${resourceToken}'
  displayName: 'Jumpgate sign-in (${environmentName})'
  signInAudience: 'AzureADMyOrg'
  web: {
    redirectUris: uris
    implicitGrantSettings: {
      enableIdTokenIssuance: true
      enableAccessTokenIssuance: false
    }
  }
  // security groups the user is a member of, as object ids, in the ID token's `groups` claim
  groupMembershipClaims: 'SecurityGroup'
  requiredResourceAccess: [
    {
      resourceAppId: microsoftGraphAppId
      resourceAccess: [
        { id: openidScope, type: 'Scope' }
        { id: profileScope, type: 'Scope' }
        { id: emailScope, type: 'Scope' }
      ]
    }
  ]
}

resource signInPrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: signInApp.appId
}

output clientId string = signInApp.appId
output servicePrincipalId string = signInPrincipal.id
