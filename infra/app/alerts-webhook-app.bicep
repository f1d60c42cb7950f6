// Token mode of the alert intake (the default): the Entra application Azure Monitor's secure
// webhook gets tokens for, with an app role only Azure Monitor's action groups hold. The action
// group's webhook names this application (objectId, identifierUri, tenantId) and sets useAadAuth;
// the Function App accepts exactly these tokens on /api/alerts/entra (shared/alerts/entra-token.ts).
// Microsoft Graph resources need the deployer to be allowed to register applications and to grant
// app roles (Application Administrator or Cloud Application Administrator, or the tenant's default
// user rights for the first): see README "Deploying to Azure".
extension 'br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0'

param resourceToken string
param environmentName string

// Azure Monitor's action groups sign in to secure webhooks as this first-party application
// ("AzNS AAD Webhook"); shared/alerts/entra-token.ts ACTION_GROUPS_APP_ID
var actionGroupsAppId = '461e8683-5575-4561-ac7f-899cc907d62a'
var roleValue = 'ActionGroupsSecureWebhook'
var roleId = guid(tenant().tenantId, resourceToken, roleValue)
// api://{tenant id}/{name}: a format Entra accepts without a verified domain
var identifierUri = 'api://${tenant().tenantId}/jumpgate-alerts-${resourceToken}'

resource alertsApp 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: 'jumpgate-alerts-${resourceToken}'
  displayName: 'Jumpgate alerts (${environmentName})'
  signInAudience: 'AzureADMyOrg'
  identifierUris: [identifierUri]
  api: {
    // v2 tokens: issuer https://login.microsoftonline.com/{tenant}/v2.0, audience the client id
    requestedAccessTokenVersion: 2
  }
  appRoles: [
    {
      id: roleId
      value: roleValue
      displayName: 'Azure Monitor action groups'
      description: 'May post Azure Monitor alerts to Jumpgate.'
      allowedMemberTypes: ['Application']
      isEnabled: true
    }
  ]
}

resource alertsPrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: alertsApp.appId
  // tokens only for principals granted the role: Azure Monitor's action groups, nobody else
  appRoleAssignmentRequired: true
}

// created when the tenant has none yet, as Microsoft's secure-webhook script does
resource actionGroupsPrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: actionGroupsAppId
}

resource actionGroupsRole 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  appRoleId: roleId
  principalId: actionGroupsPrincipal.id
  resourceId: alertsPrincipal.id
}

output objectId string = alertsApp.id
output clientId string = alertsApp.appId
output identifierUri string = identifierUri
output role string = roleValue
output callerObjectId string = actionGroupsPrincipal.id
