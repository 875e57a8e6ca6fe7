"""dnsauto provider for the Google Cloud DNS API v1 (Stalwart ``@type`` ``GoogleCloudDns``)."""
