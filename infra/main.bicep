// Jumpgate's own infrastructure, for `azd up`: the Function App (Flex Consumption, Node 22) in its
// own resource group, and the rights it needs on the stacks it manages. Stacks themselves are not
// here: Jumpgate creates them from `PUT /api/stacks/{name}`.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names and tags every resource.')
param environmentName string

@minLength(1)
@description('Region of the Function App (one that offers Flex Consumption: az functionapp list-flexconsumption-locations).')
@metadata({ azd: { type: 'location' } })
param location string

@description('Resource groups Jumpgate may deploy stacks into, comma-separated. Empty: any resource group of this subscription (its role is assigned on the subscription). Listed: only these, created here and assigned one by one.')
param stackResourceGroups string = ''

@description('Azure DNS zones of this subscription (resource ids, comma-separated) where Jumpgate may write _acme-challenge TXT records for DNS-01 certificates. Needed only with stackResourceGroups: a subscription-wide assignment already covers every zone.')
param acmeDnsZoneIds string = ''

@secure()
@description('Key mode only (alertsAuth=key): the function key Azure Monitor presents to /api/alerts (a key of that one function). azd generates it once per environment.')
@metadata({ azd: { type: 'generate', config: { length: 48, noSpecial: true } } })
param alertsFunctionKey string

@allowed(['token', 'key'])
@description('How Azure Monitor authenticates to the alert intake: token (default: the secure webhook, an Entra ID token for an application created here, checked by the app) or key (a function key in the webhook URL, for tenants where you may not register applications).')
param alertsAuth string = 'token'

@description('Sign-in addresses of the stacks that sign in with Entra ID, https://{hostname}/ each, comma-separated. Set: an Entra application for them is created here (its client id is the output JUMPGATE_SIGN_IN_CLIENT_ID, for the stacks\' access.clientId). Empty: none (register one yourself, see README "Signing in").')
param signInRedirectUris string = ''

@description('Object id of whoever runs azd (azd fills it in): may read Jumpgate\'s tables (registry, audit trail). Empty: nobody.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal'])
@description('Kind of principalId: User when a person runs azd, ServicePrincipal in a pipeline.')
param principalType string = 'User'

var tags = { 'azd-env-name': environmentName }
var stackGroupNames = map(filter(split(stackResourceGroups, ','), g => !empty(trim(g))), g => trim(g))
var dnsZoneIds = map(filter(split(acmeDnsZoneIds, ','), z => !empty(trim(z))), z => trim(z))
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var appResourceGroupName = 'rg-${environmentName}'

// Jumpgate grants exactly these built-in roles to the stacks' identities (shared/graph/names.ts
// ROLE_DEFINITIONS); a condition on its own assignment lets it grant nothing else.
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
// the app's own read of a stack's recordings container (GET /api/stacks/{name}/recordings)
var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
// ... and this custom role to the web nodes on their stack's recordings container (read and create blobs)
var recordingWriter = guid(subscription().id, 'jumpgate-recording-writer', environmentName)

resource appResourceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: appResourceGroupName
  location: location
  tags: tags
}

module recordingWriterRole 'app/recording-writer-role.bicep' = {
  name: 'jumpgate-recording-writer-role'
  params: {
    roleGuid: recordingWriter
    environmentName: environmentName
  }
}

module signInApp 'app/sign-in-app.bicep' = if (!empty(signInRedirectUris)) {
  name: 'jumpgate-sign-in-app'
  scope: appResourceGroup
  params: {
    resourceToken: resourceToken
    environmentName: environmentName
    redirectUris: signInRedirectUris
  }
}

module alertsWebhookApp 'app/alerts-webhook-app.bicep' = if (alertsAuth == 'token') {
  name: 'jumpgate-alerts-app'
  scope: appResourceGroup
  params: {
    resourceToken: resourceToken
    environmentName: environmentName
  }
}

module app 'app/function-app.bicep' = {
  name: 'jumpgate-app'
  scope: appResourceGroup
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    alertsAuth: alertsAuth
    alertsFunctionKey: alertsFunctionKey
    alertsAppObjectId: alertsAuth == 'token' ? alertsWebhookApp!.outputs.objectId : ''
    alertsAppClientId: alertsAuth == 'token' ? alertsWebhookApp!.outputs.clientId : ''
    alertsAppIdentifierUri: alertsAuth == 'token' ? alertsWebhookApp!.outputs.identifierUri : ''
    alertsAppRole: alertsAuth == 'token' ? alertsWebhookApp!.outputs.role : ''
    alertsCallerObjectId: alertsAuth == 'token' ? alertsWebhookApp!.outputs.callerObjectId : ''
    principalId: principalId
    principalType: principalType
    recordingWriterRoleId: recordingWriter
  }
}

module operatorRole 'app/operator-role.bicep' = {
  name: 'jumpgate-operator-role'
  params: {
    environmentName: environmentName
    assignToSubscription: empty(stackGroupNames)
    principalId: app.outputs.identityPrincipalId
    condition: assignmentCondition
  }
}

// Jumpgate may assign Key Vault Secrets User, Monitoring Metrics Publisher and the recording writer
// (to the web nodes' identities), Key Vault Secrets Officer only to itself (on each stack's vault), and delete only
// assignments of those roles.
var assignmentCondition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${keyVaultSecretsUser}, ${monitoringMetricsPublisher}, ${recordingWriter}}) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${keyVaultSecretsOfficer}, ${storageBlobDataReader}} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidEquals {${app.outputs.identityPrincipalId}})) AND ((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${keyVaultSecretsUser}, ${monitoringMetricsPublisher}, ${recordingWriter}, ${keyVaultSecretsOfficer}, ${storageBlobDataReader}}))'

resource stackGroups 'Microsoft.Resources/resourceGroups@2024-03-01' = [
  for name in stackGroupNames: {
    name: name
    location: location
    tags: tags
  }
]

module stackGroupAccess 'app/operator-access.bicep' = [
  for i in range(0, length(stackGroupNames)): {
    name: 'jumpgate-access-${i}'
    scope: stackGroups[i]
    params: {
      roleDefinitionId: operatorRole.outputs.roleDefinitionId
      principalId: app.outputs.identityPrincipalId
      condition: assignmentCondition
    }
  }
]

module dnsZoneAccess 'app/dns-zone-access.bicep' = [
  for (zoneId, i) in dnsZoneIds: {
    name: 'jumpgate-dns-${i}'
    scope: resourceGroup(split(zoneId, '/')[2], split(zoneId, '/')[4])
    params: {
      zoneName: last(split(zoneId, '/'))
      roleDefinitionId: operatorRole.outputs.roleDefinitionId
      principalId: app.outputs.identityPrincipalId
      condition: assignmentCondition
    }
  }
]

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = appResourceGroup.name
output JUMPGATE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output JUMPGATE_API_URL string = app.outputs.apiUrl
output JUMPGATE_ALERT_ACTION_GROUP_ID string = app.outputs.actionGroupId
output JUMPGATE_OPERATOR_ROLE_ID string = operatorRole.outputs.roleDefinitionId
output JUMPGATE_SIGN_IN_CLIENT_ID string = empty(signInRedirectUris) ? '' : signInApp!.outputs.clientId
