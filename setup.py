# SPDX-License-Identifier: Apache-2.0
"""ament_python package: builds with ``colcon build`` and with ``pip install -e .``."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'fusion_ros'
# optional: `bag fuse-many` on many cores or a cluster (same pin as requirements.txt)
RAY = 'ray==2.60.0'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=[PACKAGE, f'{PACKAGE}.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.launch.py')),
        (f'share/{PACKAGE}/config', glob('config/*.yaml') + glob('config/*.rviz')
         + glob('config/*.xml')),
        (f'share/{PACKAGE}/config/train', glob('config/train/*.yaml')),
        (f'share/{PACKAGE}/models', glob('models/*.pt') + glob('models/*.md')),
    ],
    install_requires=['setuptools'],
    extras_require={'ray': [RAY]},
    zip_safe=False,
    maintainer='fusion_ros maintainers',
    maintainer_email='maintainers@fusion-ros.dev',
    description='Thermal + RGB image fusion for ROS 2',
    license='Apache-2.0',
    python_requires='>=3.10',
    entry_points={
        'console_scripts': [
            'fusion-ros = fusion_ros.cli.main:main',
            'fusion_node = fusion_ros.ros.fusion_node:main',
            'detector_node = fusion_ros.ros.detector_node:main',
        ],
    },
)
