// Event Grid subscription: BlobCreated events for PT1H.json in the NSG and VNet flow-log
// containers go to the input hub, partitioned by blob (subject), so all events of one blob are
// read in order by one flowlog partition task.

@description('Existing system topic of the flow-log storage account.')
param systemTopicName string

@description('Resource ID of the input event hub.')
param inputHubId string

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'flowlog-blob-created'
  properties: {
    // flowlog reads Event Grid schema: the event hub message body is a JSON array of events.
    eventDeliverySchema: 'EventGridSchema'
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'EventHub'
        properties: {
          resourceId: inputHubId
          deliveryAttributeMappings: [
            {
              // Event Hubs partition key = subject (the blob path): one blob, one partition.
              name: 'PartitionKey'
              type: 'Dynamic'
              properties: {
                sourceField: 'subject'
              }
            }
          ]
        }
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      // Flow logs append to hourly PT1H.json block blobs; nothing else in these containers
      // matters. subjectBeginsWith takes one prefix, so the two containers are an advanced
      // filter (values are ORed).
      subjectEndsWith: '/PT1H.json'
      isSubjectCaseSensitive: false
      advancedFilters: [
        {
          operatorType: 'StringBeginsWith'
          key: 'subject'
          values: [
            '/blobServices/default/containers/insights-logs-flowlogflowevent/'
            '/blobServices/default/containers/insights-logs-networksecuritygroupflowevent/'
          ]
        }
      ]
    }
    retryPolicy: {
      // Event Grid's maximum: a flowlog outage up to a day loses no event (and any later
      // event for the same blob heals a lost one, see docs/ARCHITECTURE.md section 4).
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}
