"""Imports every service's models so ``Base.metadata`` knows every table (for migrations)."""

from caas.identity import models as identity_models  # noqa: F401
from caas.identity import credential_models  # noqa: F401
from caas.image import models as image_models  # noqa: F401
from caas.network import models as network_models  # noqa: F401
from caas.compute import models as compute_models  # noqa: F401
from caas.volume import models as volume_models  # noqa: F401
from caas.share import models as share_models  # noqa: F401
from caas.virt.netns import models as netns_models  # noqa: F401
from caas.clusters import models as cluster_models  # noqa: F401
from caas.identity import delegation_models  # noqa: F401
from caas.hosts import models as host_models  # noqa: F401
